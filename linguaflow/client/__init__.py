"""The producer SDK: publish translation requests and await their translations.

``TranslationClient`` (async) and ``SyncTranslationClient`` (blocking, for non-async code) share
one implementation; see docs/sdk.md.
"""

from linguaflow.client.aio import TranslationClient
from linguaflow.client.build import RequestFields, idempotent_request_id, new_request_id
from linguaflow.client.replies import Translation
from linguaflow.client.sync import SyncTranslationClient
from linguaflow.errors import DeadLettered, InvalidRequest, TranslationTimeout
from linguaflow.settings import ClientSettings

__all__ = [
    "ClientSettings",
    "DeadLettered",
    "InvalidRequest",
    "RequestFields",
    "SyncTranslationClient",
    "Translation",
    "TranslationClient",
    "TranslationTimeout",
    "idempotent_request_id",
    "new_request_id",
]
