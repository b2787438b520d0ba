import datetime

from browserplane.v1 import session_pb2 as _session_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ArtifactKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ARTIFACT_KIND_UNSPECIFIED: _ClassVar[ArtifactKind]
    ARTIFACT_SCREENSHOT: _ClassVar[ArtifactKind]
    ARTIFACT_VIDEO: _ClassVar[ArtifactKind]
    ARTIFACT_TIMELINE: _ClassVar[ArtifactKind]
    ARTIFACT_DOM_EVENTS: _ClassVar[ArtifactKind]
    ARTIFACT_DOWNLOAD: _ClassVar[ArtifactKind]
    ARTIFACT_PDF: _ClassVar[ArtifactKind]
    ARTIFACT_LOGS: _ClassVar[ArtifactKind]
ARTIFACT_KIND_UNSPECIFIED: ArtifactKind
ARTIFACT_SCREENSHOT: ArtifactKind
ARTIFACT_VIDEO: ArtifactKind
ARTIFACT_TIMELINE: ArtifactKind
ARTIFACT_DOM_EVENTS: ArtifactKind
ARTIFACT_DOWNLOAD: ArtifactKind
ARTIFACT_PDF: ArtifactKind
ARTIFACT_LOGS: ArtifactKind

class Artifact(_message.Message):
    __slots__ = ("id", "project_id", "session_id", "kind", "name", "mime_type", "size_bytes", "sha256", "created_at", "expires_at", "page_id", "metadata")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    session_id: str
    kind: ArtifactKind
    name: str
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    page_id: str
    metadata: _containers.ScalarMap[str, str]
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., session_id: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., name: _Optional[str] = ..., mime_type: _Optional[str] = ..., size_bytes: _Optional[int] = ..., sha256: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_id: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ArtifactChunk(_message.Message):
    __slots__ = ("artifact", "data")
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    artifact: Artifact
    data: bytes
    def __init__(self, artifact: _Optional[_Union[Artifact, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class ListArtifactsRequest(_message.Message):
    __slots__ = ("session_id", "kind", "limit", "offset")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: ArtifactKind
    limit: int
    offset: int
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[ArtifactKind, str]] = ..., limit: _Optional[int] = ..., offset: _Optional[int] = ...) -> None: ...

class ListArtifactsResponse(_message.Message):
    __slots__ = ("artifacts", "total")
    ARTIFACTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    artifacts: _containers.RepeatedCompositeFieldContainer[Artifact]
    total: int
    def __init__(self, artifacts: _Optional[_Iterable[_Union[Artifact, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class ReadArtifactRequest(_message.Message):
    __slots__ = ("id", "expires", "signature", "offset", "length")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    id: str
    expires: int
    signature: str
    offset: int
    length: int
    def __init__(self, id: _Optional[str] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ..., offset: _Optional[int] = ..., length: _Optional[int] = ...) -> None: ...

class SignArtifactUrlRequest(_message.Message):
    __slots__ = ("id", "ttl_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    ttl_seconds: int
    def __init__(self, id: _Optional[str] = ..., ttl_seconds: _Optional[int] = ...) -> None: ...

class SignedArtifactUrl(_message.Message):
    __slots__ = ("id", "expires", "signature")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_FIELD_NUMBER: _ClassVar[int]
    id: str
    expires: int
    signature: str
    def __init__(self, id: _Optional[str] = ..., expires: _Optional[int] = ..., signature: _Optional[str] = ...) -> None: ...

class Vault(_message.Message):
    __slots__ = ("id", "project_id", "name", "created_at", "updated_at", "credential_count", "has_credit_card", "persona_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    HAS_CREDIT_CARD_FIELD_NUMBER: _ClassVar[int]
    PERSONA_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    credential_count: int
    has_credit_card: bool
    persona_id: str
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., credential_count: _Optional[int] = ..., has_credit_card: _Optional[bool] = ..., persona_id: _Optional[str] = ...) -> None: ...

class Credential(_message.Message):
    __slots__ = ("url", "username", "email", "password", "mfa_secret")
    URL_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    MFA_SECRET_FIELD_NUMBER: _ClassVar[int]
    url: str
    username: str
    email: str
    password: str
    mfa_secret: str
    def __init__(self, url: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., password: _Optional[str] = ..., mfa_secret: _Optional[str] = ...) -> None: ...

class CredentialInfo(_message.Message):
    __slots__ = ("url", "username", "email", "has_mfa", "created_at", "updated_at")
    URL_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    HAS_MFA_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    url: str
    username: str
    email: str
    has_mfa: bool
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, url: _Optional[str] = ..., username: _Optional[str] = ..., email: _Optional[str] = ..., has_mfa: _Optional[bool] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreditCard(_message.Message):
    __slots__ = ("card_holder_name", "card_number", "card_cvv", "card_full_expiration")
    CARD_HOLDER_NAME_FIELD_NUMBER: _ClassVar[int]
    CARD_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CARD_CVV_FIELD_NUMBER: _ClassVar[int]
    CARD_FULL_EXPIRATION_FIELD_NUMBER: _ClassVar[int]
    card_holder_name: str
    card_number: str
    card_cvv: str
    card_full_expiration: str
    def __init__(self, card_holder_name: _Optional[str] = ..., card_number: _Optional[str] = ..., card_cvv: _Optional[str] = ..., card_full_expiration: _Optional[str] = ...) -> None: ...

class CreateVaultRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListVaultsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListVaultsResponse(_message.Message):
    __slots__ = ("vaults", "next_page_token", "total_size")
    VAULTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    vaults: _containers.RepeatedCompositeFieldContainer[Vault]
    next_page_token: str
    total_size: int
    def __init__(self, vaults: _Optional[_Iterable[_Union[Vault, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetVaultRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UpdateVaultRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeleteVaultRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteVaultResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AddCredentialsRequest(_message.Message):
    __slots__ = ("vault_id", "credential")
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    credential: Credential
    def __init__(self, vault_id: _Optional[str] = ..., credential: _Optional[_Union[Credential, _Mapping]] = ...) -> None: ...

class GetCredentialsRequest(_message.Message):
    __slots__ = ("vault_id", "url")
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    url: str
    def __init__(self, vault_id: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class ListCredentialsRequest(_message.Message):
    __slots__ = ("vault_id",)
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    def __init__(self, vault_id: _Optional[str] = ...) -> None: ...

class ListCredentialsResponse(_message.Message):
    __slots__ = ("credentials",)
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    credentials: _containers.RepeatedCompositeFieldContainer[CredentialInfo]
    def __init__(self, credentials: _Optional[_Iterable[_Union[CredentialInfo, _Mapping]]] = ...) -> None: ...

class DeleteCredentialsRequest(_message.Message):
    __slots__ = ("vault_id", "url")
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    url: str
    def __init__(self, vault_id: _Optional[str] = ..., url: _Optional[str] = ...) -> None: ...

class DeleteCredentialsResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SetCreditCardRequest(_message.Message):
    __slots__ = ("vault_id", "credit_card")
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CARD_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    credit_card: CreditCard
    def __init__(self, vault_id: _Optional[str] = ..., credit_card: _Optional[_Union[CreditCard, _Mapping]] = ...) -> None: ...

class GetCreditCardRequest(_message.Message):
    __slots__ = ("vault_id",)
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    def __init__(self, vault_id: _Optional[str] = ...) -> None: ...

class DeleteCreditCardRequest(_message.Message):
    __slots__ = ("vault_id",)
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    vault_id: str
    def __init__(self, vault_id: _Optional[str] = ...) -> None: ...

class DeleteCreditCardResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StoredVault(_message.Message):
    __slots__ = ("vault", "credentials", "infos", "credit_card")
    VAULT_FIELD_NUMBER: _ClassVar[int]
    CREDENTIALS_FIELD_NUMBER: _ClassVar[int]
    INFOS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_CARD_FIELD_NUMBER: _ClassVar[int]
    vault: Vault
    credentials: _containers.RepeatedCompositeFieldContainer[Credential]
    infos: _containers.RepeatedCompositeFieldContainer[CredentialInfo]
    credit_card: CreditCard
    def __init__(self, vault: _Optional[_Union[Vault, _Mapping]] = ..., credentials: _Optional[_Iterable[_Union[Credential, _Mapping]]] = ..., infos: _Optional[_Iterable[_Union[CredentialInfo, _Mapping]]] = ..., credit_card: _Optional[_Union[CreditCard, _Mapping]] = ...) -> None: ...

class Persona(_message.Message):
    __slots__ = ("id", "project_id", "name", "first_name", "last_name", "email", "vault_id", "created_at", "email_count", "mail_receiving")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAIL_RECEIVING_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    first_name: str
    last_name: str
    email: str
    vault_id: str
    created_at: _timestamp_pb2.Timestamp
    email_count: int
    mail_receiving: bool
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., email: _Optional[str] = ..., vault_id: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., email_count: _Optional[int] = ..., mail_receiving: _Optional[bool] = ...) -> None: ...

class PersonaEmail(_message.Message):
    __slots__ = ("id", "persona_id", "received_at", "subject", "sender_email", "sender_name", "date", "text", "html", "links", "read", "size_bytes", "envelope_from")
    ID_FIELD_NUMBER: _ClassVar[int]
    PERSONA_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    SENDER_EMAIL_FIELD_NUMBER: _ClassVar[int]
    SENDER_NAME_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HTML_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    READ_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    ENVELOPE_FROM_FIELD_NUMBER: _ClassVar[int]
    id: str
    persona_id: str
    received_at: _timestamp_pb2.Timestamp
    subject: str
    sender_email: str
    sender_name: str
    date: str
    text: str
    html: str
    links: _containers.RepeatedScalarFieldContainer[str]
    read: bool
    size_bytes: int
    envelope_from: str
    def __init__(self, id: _Optional[str] = ..., persona_id: _Optional[str] = ..., received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., subject: _Optional[str] = ..., sender_email: _Optional[str] = ..., sender_name: _Optional[str] = ..., date: _Optional[str] = ..., text: _Optional[str] = ..., html: _Optional[str] = ..., links: _Optional[_Iterable[str]] = ..., read: _Optional[bool] = ..., size_bytes: _Optional[int] = ..., envelope_from: _Optional[str] = ...) -> None: ...

class CreatePersonaRequest(_message.Message):
    __slots__ = ("name", "create_vault", "create_phone_number")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATE_VAULT_FIELD_NUMBER: _ClassVar[int]
    CREATE_PHONE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    name: str
    create_vault: bool
    create_phone_number: bool
    def __init__(self, name: _Optional[str] = ..., create_vault: _Optional[bool] = ..., create_phone_number: _Optional[bool] = ...) -> None: ...

class ListPersonasRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPersonasResponse(_message.Message):
    __slots__ = ("personas", "next_page_token", "total_size")
    PERSONAS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    personas: _containers.RepeatedCompositeFieldContainer[Persona]
    next_page_token: str
    total_size: int
    def __init__(self, personas: _Optional[_Iterable[_Union[Persona, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class GetPersonaRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class UpdatePersonaRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class DeletePersonaRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeletePersonaResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListPersonaEmailsRequest(_message.Message):
    __slots__ = ("persona_id", "limit", "only_unread", "newer_than_seconds", "mark_read")
    PERSONA_ID_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    ONLY_UNREAD_FIELD_NUMBER: _ClassVar[int]
    NEWER_THAN_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MARK_READ_FIELD_NUMBER: _ClassVar[int]
    persona_id: str
    limit: int
    only_unread: bool
    newer_than_seconds: float
    mark_read: bool
    def __init__(self, persona_id: _Optional[str] = ..., limit: _Optional[int] = ..., only_unread: _Optional[bool] = ..., newer_than_seconds: _Optional[float] = ..., mark_read: _Optional[bool] = ...) -> None: ...

class ListPersonaEmailsResponse(_message.Message):
    __slots__ = ("emails",)
    EMAILS_FIELD_NUMBER: _ClassVar[int]
    emails: _containers.RepeatedCompositeFieldContainer[PersonaEmail]
    def __init__(self, emails: _Optional[_Iterable[_Union[PersonaEmail, _Mapping]]] = ...) -> None: ...

class StartCallRequest(_message.Message):
    __slots__ = ("method", "request", "client_request_id")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    method: str
    request: bytes
    client_request_id: str
    def __init__(self, method: _Optional[str] = ..., request: _Optional[bytes] = ..., client_request_id: _Optional[str] = ...) -> None: ...

class Call(_message.Message):
    __slots__ = ("id", "session_id", "method", "state", "response", "events", "error_code", "error_reason", "error_message", "created_at", "finished_at", "client_request_id", "request")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Call.State]
        RUNNING: _ClassVar[Call.State]
        COMPLETED: _ClassVar[Call.State]
        FAILED: _ClassVar[Call.State]
        CANCELLED: _ClassVar[Call.State]
    STATE_UNSPECIFIED: Call.State
    RUNNING: Call.State
    COMPLETED: Call.State
    FAILED: Call.State
    CANCELLED: Call.State
    ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_CODE_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    ERROR_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    CLIENT_REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_FIELD_NUMBER: _ClassVar[int]
    id: str
    session_id: str
    method: str
    state: Call.State
    response: bytes
    events: _containers.RepeatedScalarFieldContainer[bytes]
    error_code: str
    error_reason: str
    error_message: str
    created_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    client_request_id: str
    request: bytes
    def __init__(self, id: _Optional[str] = ..., session_id: _Optional[str] = ..., method: _Optional[str] = ..., state: _Optional[_Union[Call.State, str]] = ..., response: _Optional[bytes] = ..., events: _Optional[_Iterable[bytes]] = ..., error_code: _Optional[str] = ..., error_reason: _Optional[str] = ..., error_message: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., client_request_id: _Optional[str] = ..., request: _Optional[bytes] = ...) -> None: ...

class GetCallRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ListCallsRequest(_message.Message):
    __slots__ = ("session_id", "method", "summary")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    method: str
    summary: bool
    def __init__(self, session_id: _Optional[str] = ..., method: _Optional[str] = ..., summary: _Optional[bool] = ...) -> None: ...

class ListCallsResponse(_message.Message):
    __slots__ = ("calls",)
    CALLS_FIELD_NUMBER: _ClassVar[int]
    calls: _containers.RepeatedCompositeFieldContainer[Call]
    def __init__(self, calls: _Optional[_Iterable[_Union[Call, _Mapping]]] = ...) -> None: ...

class CreateSessionRequest(_message.Message):
    __slots__ = ("options", "queue_timeout_seconds", "idempotency_key", "cdp_base_url", "start_in_background", "initial_calls")
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    CDP_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    START_IN_BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CALLS_FIELD_NUMBER: _ClassVar[int]
    options: _session_pb2.SessionOptions
    queue_timeout_seconds: int
    idempotency_key: str
    cdp_base_url: str
    start_in_background: bool
    initial_calls: _containers.RepeatedCompositeFieldContainer[StartCallRequest]
    def __init__(self, options: _Optional[_Union[_session_pb2.SessionOptions, _Mapping]] = ..., queue_timeout_seconds: _Optional[int] = ..., idempotency_key: _Optional[str] = ..., cdp_base_url: _Optional[str] = ..., start_in_background: _Optional[bool] = ..., initial_calls: _Optional[_Iterable[_Union[StartCallRequest, _Mapping]]] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("id", "cdp_base_url")
    ID_FIELD_NUMBER: _ClassVar[int]
    CDP_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    id: str
    cdp_base_url: str
    def __init__(self, id: _Optional[str] = ..., cdp_base_url: _Optional[str] = ...) -> None: ...

class ListSessionsRequest(_message.Message):
    __slots__ = ("states", "metadata_filter", "page_size", "page_token", "cdp_base_url")
    class MetadataFilterEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    STATES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CDP_BASE_URL_FIELD_NUMBER: _ClassVar[int]
    states: _containers.RepeatedScalarFieldContainer[_session_pb2.SessionState]
    metadata_filter: _containers.ScalarMap[str, str]
    page_size: int
    page_token: str
    cdp_base_url: str
    def __init__(self, states: _Optional[_Iterable[_Union[_session_pb2.SessionState, str]]] = ..., metadata_filter: _Optional[_Mapping[str, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., cdp_base_url: _Optional[str] = ...) -> None: ...

class ListSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token", "total_size")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[_session_pb2.Session]
    next_page_token: str
    total_size: int
    def __init__(self, sessions: _Optional[_Iterable[_Union[_session_pb2.Session, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class UpdateSessionRequest(_message.Message):
    __slots__ = ("id", "keep_alive", "request_release", "labels", "save_profile")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_RELEASE_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SAVE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    id: str
    keep_alive: bool
    request_release: bool
    labels: _containers.ScalarMap[str, str]
    save_profile: _session_pb2.ProfileRef
    def __init__(self, id: _Optional[str] = ..., keep_alive: _Optional[bool] = ..., request_release: _Optional[bool] = ..., labels: _Optional[_Mapping[str, str]] = ..., save_profile: _Optional[_Union[_session_pb2.ProfileRef, _Mapping]] = ...) -> None: ...

class TerminateSessionRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class WatchSessionsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SessionEvent(_message.Message):
    __slots__ = ("kind", "session")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[SessionEvent.Kind]
        CREATED: _ClassVar[SessionEvent.Kind]
        STARTED: _ClassVar[SessionEvent.Kind]
        UPDATED: _ClassVar[SessionEvent.Kind]
        ENDED: _ClassVar[SessionEvent.Kind]
    KIND_UNSPECIFIED: SessionEvent.Kind
    CREATED: SessionEvent.Kind
    STARTED: SessionEvent.Kind
    UPDATED: SessionEvent.Kind
    ENDED: SessionEvent.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SESSION_FIELD_NUMBER: _ClassVar[int]
    kind: SessionEvent.Kind
    session: _session_pb2.Session
    def __init__(self, kind: _Optional[_Union[SessionEvent.Kind, str]] = ..., session: _Optional[_Union[_session_pb2.Session, _Mapping]] = ...) -> None: ...

class ResolveSessionRequest(_message.Message):
    __slots__ = ("session_id", "token", "access")
    class Access(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CDP: _ClassVar[ResolveSessionRequest.Access]
        LIVE_VIEW: _ClassVar[ResolveSessionRequest.Access]
    CDP: ResolveSessionRequest.Access
    LIVE_VIEW: ResolveSessionRequest.Access
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    ACCESS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    token: str
    access: ResolveSessionRequest.Access
    def __init__(self, session_id: _Optional[str] = ..., token: _Optional[str] = ..., access: _Optional[_Union[ResolveSessionRequest.Access, str]] = ...) -> None: ...

class ResolveSessionResponse(_message.Message):
    __slots__ = ("session", "node_id", "relay_address")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    RELAY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    session: _session_pb2.Session
    node_id: str
    relay_address: str
    def __init__(self, session: _Optional[_Union[_session_pb2.Session, _Mapping]] = ..., node_id: _Optional[str] = ..., relay_address: _Optional[str] = ...) -> None: ...

class TouchSessionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class TouchSessionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Profile(_message.Message):
    __slots__ = ("id", "project_id", "name", "created_at", "updated_at", "size_bytes", "last_session_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    LAST_SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    name: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    size_bytes: int
    last_session_id: str
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., size_bytes: _Optional[int] = ..., last_session_id: _Optional[str] = ...) -> None: ...

class CreateProfileRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListProfilesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListProfilesResponse(_message.Message):
    __slots__ = ("profiles", "next_page_token")
    PROFILES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    profiles: _containers.RepeatedCompositeFieldContainer[Profile]
    next_page_token: str
    def __init__(self, profiles: _Optional[_Iterable[_Union[Profile, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteProfileRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteProfileResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DuplicateProfileRequest(_message.Message):
    __slots__ = ("id", "name")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ...) -> None: ...

class GetProfileCookiesRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class SetProfileCookiesRequest(_message.Message):
    __slots__ = ("id", "cookies", "replace")
    ID_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    id: str
    cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    replace: bool
    def __init__(self, id: _Optional[str] = ..., cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ..., replace: _Optional[bool] = ...) -> None: ...

class ProfileCookies(_message.Message):
    __slots__ = ("cookies",)
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    def __init__(self, cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class ReadProfileDataRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ReadExtensionDataRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ReadSessionFilesRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class WriteSessionFilesResponse(_message.Message):
    __slots__ = ("size_bytes",)
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    size_bytes: int
    def __init__(self, size_bytes: _Optional[int] = ...) -> None: ...

class DataChunk(_message.Message):
    __slots__ = ("id", "file_name", "session_id", "data", "project_id", "cookies")
    ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    id: str
    file_name: str
    session_id: str
    data: bytes
    project_id: str
    cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    def __init__(self, id: _Optional[str] = ..., file_name: _Optional[str] = ..., session_id: _Optional[str] = ..., data: _Optional[bytes] = ..., project_id: _Optional[str] = ..., cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class Extension(_message.Message):
    __slots__ = ("id", "project_id", "file_name", "name", "version", "size_bytes", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    file_name: str
    name: str
    version: str
    size_bytes: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., file_name: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ..., size_bytes: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetExtensionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteExtensionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteExtensionResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Project(_message.Message):
    __slots__ = ("id", "name", "max_concurrent_sessions", "default_timeout_seconds", "created_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_CONCURRENT_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    max_concurrent_sessions: int
    default_timeout_seconds: int
    created_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., max_concurrent_sessions: _Optional[int] = ..., default_timeout_seconds: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListProjectsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListProjectsResponse(_message.Message):
    __slots__ = ("projects",)
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    projects: _containers.RepeatedCompositeFieldContainer[Project]
    def __init__(self, projects: _Optional[_Iterable[_Union[Project, _Mapping]]] = ...) -> None: ...

class GetProjectRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("project_id",)
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    def __init__(self, project_id: _Optional[str] = ...) -> None: ...

class Usage(_message.Message):
    __slots__ = ("project_id", "browser_minutes", "sessions", "proxy_bytes")
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    BROWSER_MINUTES_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    PROXY_BYTES_FIELD_NUMBER: _ClassVar[int]
    project_id: str
    browser_minutes: float
    sessions: int
    proxy_bytes: int
    def __init__(self, project_id: _Optional[str] = ..., browser_minutes: _Optional[float] = ..., sessions: _Optional[int] = ..., proxy_bytes: _Optional[int] = ...) -> None: ...

class CreateApiKeyRequest(_message.Message):
    __slots__ = ("project_name", "expires_at")
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    project_name: str
    expires_at: _timestamp_pb2.Timestamp
    def __init__(self, project_name: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateApiKeyResponse(_message.Message):
    __slots__ = ("key", "project", "api_key")
    KEY_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    API_KEY_FIELD_NUMBER: _ClassVar[int]
    key: str
    project: Project
    api_key: ApiKey
    def __init__(self, key: _Optional[str] = ..., project: _Optional[_Union[Project, _Mapping]] = ..., api_key: _Optional[_Union[ApiKey, _Mapping]] = ...) -> None: ...

class ApiKey(_message.Message):
    __slots__ = ("id", "prefix", "project_id", "project_name", "created_at", "expires_at", "revoked_at", "active")
    ID_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REVOKED_AT_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    prefix: str
    project_id: str
    project_name: str
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    revoked_at: _timestamp_pb2.Timestamp
    active: bool
    def __init__(self, id: _Optional[str] = ..., prefix: _Optional[str] = ..., project_id: _Optional[str] = ..., project_name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., revoked_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., active: _Optional[bool] = ...) -> None: ...

class ListApiKeysRequest(_message.Message):
    __slots__ = ("project_name", "include_inactive")
    PROJECT_NAME_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    project_name: str
    include_inactive: bool
    def __init__(self, project_name: _Optional[str] = ..., include_inactive: _Optional[bool] = ...) -> None: ...

class ListApiKeysResponse(_message.Message):
    __slots__ = ("keys",)
    KEYS_FIELD_NUMBER: _ClassVar[int]
    keys: _containers.RepeatedCompositeFieldContainer[ApiKey]
    def __init__(self, keys: _Optional[_Iterable[_Union[ApiKey, _Mapping]]] = ...) -> None: ...

class RevokeApiKeyRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class RotateApiKeyRequest(_message.Message):
    __slots__ = ("id", "expires_at", "grace_seconds")
    ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    GRACE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    expires_at: _timestamp_pb2.Timestamp
    grace_seconds: int
    def __init__(self, id: _Optional[str] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., grace_seconds: _Optional[int] = ...) -> None: ...

class AuthenticateRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class AuthenticateResponse(_message.Message):
    __slots__ = ("project",)
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    project: Project
    def __init__(self, project: _Optional[_Union[Project, _Mapping]] = ...) -> None: ...

class Node(_message.Message):
    __slots__ = ("id", "grpc_address", "relay_address", "labels", "capacity", "free_slots", "warm_browsers", "live_sessions", "draining", "up", "lease_expires_at", "registered_at", "down_reason")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    GRPC_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    RELAY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    WARM_BROWSERS_FIELD_NUMBER: _ClassVar[int]
    LIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    UP_FIELD_NUMBER: _ClassVar[int]
    LEASE_EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    DOWN_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    grpc_address: str
    relay_address: str
    labels: _containers.ScalarMap[str, str]
    capacity: int
    free_slots: int
    warm_browsers: int
    live_sessions: int
    draining: bool
    up: bool
    lease_expires_at: _timestamp_pb2.Timestamp
    registered_at: _timestamp_pb2.Timestamp
    down_reason: str
    def __init__(self, id: _Optional[str] = ..., grpc_address: _Optional[str] = ..., relay_address: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., capacity: _Optional[int] = ..., free_slots: _Optional[int] = ..., warm_browsers: _Optional[int] = ..., live_sessions: _Optional[int] = ..., draining: _Optional[bool] = ..., up: _Optional[bool] = ..., lease_expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., down_reason: _Optional[str] = ...) -> None: ...

class NodeSessionReport(_message.Message):
    __slots__ = ("session_id", "connected_clients", "last_activity_at", "alive", "exit_reason", "total_connections")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_AT_FIELD_NUMBER: _ClassVar[int]
    ALIVE_FIELD_NUMBER: _ClassVar[int]
    EXIT_REASON_FIELD_NUMBER: _ClassVar[int]
    TOTAL_CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    connected_clients: int
    last_activity_at: _timestamp_pb2.Timestamp
    alive: bool
    exit_reason: str
    total_connections: int
    def __init__(self, session_id: _Optional[str] = ..., connected_clients: _Optional[int] = ..., last_activity_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., alive: _Optional[bool] = ..., exit_reason: _Optional[str] = ..., total_connections: _Optional[int] = ...) -> None: ...

class RegisterNodeRequest(_message.Message):
    __slots__ = ("node", "sessions")
    NODE_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    node: Node
    sessions: _containers.RepeatedCompositeFieldContainer[NodeSessionReport]
    def __init__(self, node: _Optional[_Union[Node, _Mapping]] = ..., sessions: _Optional[_Iterable[_Union[NodeSessionReport, _Mapping]]] = ...) -> None: ...

class RegisterNodeResponse(_message.Message):
    __slots__ = ("lease_seconds", "heartbeat_interval_ms", "stop_session_ids")
    LEASE_SECONDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    STOP_SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    lease_seconds: int
    heartbeat_interval_ms: int
    stop_session_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, lease_seconds: _Optional[int] = ..., heartbeat_interval_ms: _Optional[int] = ..., stop_session_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class HeartbeatRequest(_message.Message):
    __slots__ = ("node_id", "free_slots", "warm_browsers", "sessions", "draining")
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    WARM_BROWSERS_FIELD_NUMBER: _ClassVar[int]
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    free_slots: int
    warm_browsers: int
    sessions: _containers.RepeatedCompositeFieldContainer[NodeSessionReport]
    draining: bool
    def __init__(self, node_id: _Optional[str] = ..., free_slots: _Optional[int] = ..., warm_browsers: _Optional[int] = ..., sessions: _Optional[_Iterable[_Union[NodeSessionReport, _Mapping]]] = ..., draining: _Optional[bool] = ...) -> None: ...

class HeartbeatResponse(_message.Message):
    __slots__ = ("reregister", "stop_session_ids", "heartbeat_interval_ms")
    REREGISTER_FIELD_NUMBER: _ClassVar[int]
    STOP_SESSION_IDS_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    reregister: bool
    stop_session_ids: _containers.RepeatedScalarFieldContainer[str]
    heartbeat_interval_ms: int
    def __init__(self, reregister: _Optional[bool] = ..., stop_session_ids: _Optional[_Iterable[str]] = ..., heartbeat_interval_ms: _Optional[int] = ...) -> None: ...

class ListNodesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListNodesResponse(_message.Message):
    __slots__ = ("nodes",)
    NODES_FIELD_NUMBER: _ClassVar[int]
    nodes: _containers.RepeatedCompositeFieldContainer[Node]
    def __init__(self, nodes: _Optional[_Iterable[_Union[Node, _Mapping]]] = ...) -> None: ...

class ListQueueRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class QueuedSession(_message.Message):
    __slots__ = ("session", "position")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    POSITION_FIELD_NUMBER: _ClassVar[int]
    session: _session_pb2.Session
    position: int
    def __init__(self, session: _Optional[_Union[_session_pb2.Session, _Mapping]] = ..., position: _Optional[int] = ...) -> None: ...

class ListQueueResponse(_message.Message):
    __slots__ = ("sessions", "waiting", "max_size")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    WAITING_FIELD_NUMBER: _ClassVar[int]
    MAX_SIZE_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[QueuedSession]
    waiting: int
    max_size: int
    def __init__(self, sessions: _Optional[_Iterable[_Union[QueuedSession, _Mapping]]] = ..., waiting: _Optional[int] = ..., max_size: _Optional[int] = ...) -> None: ...

class DrainNodeRequest(_message.Message):
    __slots__ = ("node_id",)
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    node_id: str
    def __init__(self, node_id: _Optional[str] = ...) -> None: ...
