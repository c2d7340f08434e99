"""The Kafka adapter's errors, in the ledger's words (aiokafka's are chained with `from`)."""

from __future__ import annotations

from aiokafka.errors import (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    InvalidTopicError,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    UnsupportedVersionError,
)


class KafkaAdapterError(Exception):
    """Base of the Kafka adapter's errors."""


class KafkaRefused(KafkaAdapterError):
    """The cluster refused this client (credentials, ACLs, protocol version, topic name):
    reconnecting cannot help, so the service stops (exit code 4)."""


class ConsumerNotOpen(KafkaAdapterError):
    """A batch operation was called while the consumer is closed (a bug in the caller)."""


class PublisherNotOpen(KafkaAdapterError):
    """A publish was attempted while the producer is closed (a bug in the caller)."""


# Errors no amount of reconnecting fixes; every other KafkaError is retried with backoff.
REFUSALS: tuple[type[BaseException], ...] = (
    AuthenticationFailedError,
    AuthenticationMethodNotSupported,
    SaslAuthenticationFailed,
    TopicAuthorizationFailedError,
    GroupAuthorizationFailedError,
    ClusterAuthorizationFailedError,
    UnsupportedVersionError,
    InvalidTopicError,
)
