import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_TYPE_UNSPECIFIED: _ClassVar[ResourceType]
    IMAGE: _ClassVar[ResourceType]
    FONT: _ClassVar[ResourceType]
    STYLESHEET: _ClassVar[ResourceType]
    SCRIPT: _ClassVar[ResourceType]
    MEDIA: _ClassVar[ResourceType]

class SessionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SESSION_STATE_UNSPECIFIED: _ClassVar[SessionState]
    PENDING: _ClassVar[SessionState]
    RUNNING: _ClassVar[SessionState]
    COMPLETED: _ClassVar[SessionState]
    TIMED_OUT: _ClassVar[SessionState]
    FAILED: _ClassVar[SessionState]

class EndCause(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    END_CAUSE_UNSPECIFIED: _ClassVar[EndCause]
    REQUESTED: _ClassVar[EndCause]
    CLIENT_DISCONNECTED: _ClassVar[EndCause]
    IDLE_TIMEOUT: _ClassVar[EndCause]
    MAX_DURATION: _ClassVar[EndCause]
    NODE_LOST: _ClassVar[EndCause]
    BROWSER_EXITED: _ClassVar[EndCause]
    LAUNCH_FAILED: _ClassVar[EndCause]
    ORPHANED: _ClassVar[EndCause]
RESOURCE_TYPE_UNSPECIFIED: ResourceType
IMAGE: ResourceType
FONT: ResourceType
STYLESHEET: ResourceType
SCRIPT: ResourceType
MEDIA: ResourceType
SESSION_STATE_UNSPECIFIED: SessionState
PENDING: SessionState
RUNNING: SessionState
COMPLETED: SessionState
TIMED_OUT: SessionState
FAILED: SessionState
END_CAUSE_UNSPECIFIED: EndCause
REQUESTED: EndCause
CLIENT_DISCONNECTED: EndCause
IDLE_TIMEOUT: EndCause
MAX_DURATION: EndCause
NODE_LOST: EndCause
BROWSER_EXITED: EndCause
LAUNCH_FAILED: EndCause
ORPHANED: EndCause

class Viewport(_message.Message):
    __slots__ = ("width", "height", "device_scale_factor", "mobile")
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEVICE_SCALE_FACTOR_FIELD_NUMBER: _ClassVar[int]
    MOBILE_FIELD_NUMBER: _ClassVar[int]
    width: int
    height: int
    device_scale_factor: float
    mobile: bool
    def __init__(self, width: _Optional[int] = ..., height: _Optional[int] = ..., device_scale_factor: _Optional[float] = ..., mobile: _Optional[bool] = ...) -> None: ...

class ProxyRule(_message.Message):
    __slots__ = ("kind", "server", "username", "password", "domain_pattern", "bypass", "country")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[ProxyRule.Kind]
        EXTERNAL: _ClassVar[ProxyRule.Kind]
        NONE: _ClassVar[ProxyRule.Kind]
    KIND_UNSPECIFIED: ProxyRule.Kind
    EXTERNAL: ProxyRule.Kind
    NONE: ProxyRule.Kind
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_PATTERN_FIELD_NUMBER: _ClassVar[int]
    BYPASS_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    kind: ProxyRule.Kind
    server: str
    username: str
    password: str
    domain_pattern: str
    bypass: _containers.RepeatedScalarFieldContainer[str]
    country: str
    def __init__(self, kind: _Optional[_Union[ProxyRule.Kind, str]] = ..., server: _Optional[str] = ..., username: _Optional[str] = ..., password: _Optional[str] = ..., domain_pattern: _Optional[str] = ..., bypass: _Optional[_Iterable[str]] = ..., country: _Optional[str] = ...) -> None: ...

class Cookie(_message.Message):
    __slots__ = ("name", "value", "domain", "path", "url", "expires", "http_only", "secure", "same_site")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    DOMAIN_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_FIELD_NUMBER: _ClassVar[int]
    HTTP_ONLY_FIELD_NUMBER: _ClassVar[int]
    SECURE_FIELD_NUMBER: _ClassVar[int]
    SAME_SITE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    domain: str
    path: str
    url: str
    expires: float
    http_only: bool
    secure: bool
    same_site: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ..., domain: _Optional[str] = ..., path: _Optional[str] = ..., url: _Optional[str] = ..., expires: _Optional[float] = ..., http_only: _Optional[bool] = ..., secure: _Optional[bool] = ..., same_site: _Optional[str] = ...) -> None: ...

class ProfileRef(_message.Message):
    __slots__ = ("profile_id", "persist")
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    PERSIST_FIELD_NUMBER: _ClassVar[int]
    profile_id: str
    persist: bool
    def __init__(self, profile_id: _Optional[str] = ..., persist: _Optional[bool] = ...) -> None: ...

class SessionOptions(_message.Message):
    __slots__ = ("viewport", "user_agent", "locale", "timezone", "proxies", "blocked_resource_types", "block_ads", "extension_ids", "profile", "idle_timeout_seconds", "max_duration_seconds", "keep_alive", "cookies", "labels", "user_metadata", "node_selector", "ignore_certificate_errors", "allowed_domains", "region", "solve_captchas", "record_session", "log_session", "dismiss_blockers", "extra_http_headers", "headful", "dialect", "accept_downloads", "chrome_args", "vault_id")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    VIEWPORT_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    LOCALE_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    PROXIES_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_RESOURCE_TYPES_FIELD_NUMBER: _ClassVar[int]
    BLOCK_ADS_FIELD_NUMBER: _ClassVar[int]
    EXTENSION_IDS_FIELD_NUMBER: _ClassVar[int]
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    KEEP_ALIVE_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    USER_METADATA_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    IGNORE_CERTIFICATE_ERRORS_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_DOMAINS_FIELD_NUMBER: _ClassVar[int]
    REGION_FIELD_NUMBER: _ClassVar[int]
    SOLVE_CAPTCHAS_FIELD_NUMBER: _ClassVar[int]
    RECORD_SESSION_FIELD_NUMBER: _ClassVar[int]
    LOG_SESSION_FIELD_NUMBER: _ClassVar[int]
    DISMISS_BLOCKERS_FIELD_NUMBER: _ClassVar[int]
    EXTRA_HTTP_HEADERS_FIELD_NUMBER: _ClassVar[int]
    HEADFUL_FIELD_NUMBER: _ClassVar[int]
    DIALECT_FIELD_NUMBER: _ClassVar[int]
    ACCEPT_DOWNLOADS_FIELD_NUMBER: _ClassVar[int]
    CHROME_ARGS_FIELD_NUMBER: _ClassVar[int]
    VAULT_ID_FIELD_NUMBER: _ClassVar[int]
    viewport: Viewport
    user_agent: str
    locale: str
    timezone: str
    proxies: _containers.RepeatedCompositeFieldContainer[ProxyRule]
    blocked_resource_types: _containers.RepeatedScalarFieldContainer[ResourceType]
    block_ads: bool
    extension_ids: _containers.RepeatedScalarFieldContainer[str]
    profile: ProfileRef
    idle_timeout_seconds: int
    max_duration_seconds: int
    keep_alive: bool
    cookies: _containers.RepeatedCompositeFieldContainer[Cookie]
    labels: _containers.ScalarMap[str, str]
    user_metadata: _struct_pb2.Struct
    node_selector: _containers.ScalarMap[str, str]
    ignore_certificate_errors: bool
    allowed_domains: _containers.RepeatedScalarFieldContainer[str]
    region: str
    solve_captchas: bool
    record_session: bool
    log_session: bool
    dismiss_blockers: bool
    extra_http_headers: _containers.RepeatedScalarFieldContainer[str]
    headful: bool
    dialect: str
    accept_downloads: bool
    chrome_args: _containers.RepeatedScalarFieldContainer[str]
    vault_id: str
    def __init__(self, viewport: _Optional[_Union[Viewport, _Mapping]] = ..., user_agent: _Optional[str] = ..., locale: _Optional[str] = ..., timezone: _Optional[str] = ..., proxies: _Optional[_Iterable[_Union[ProxyRule, _Mapping]]] = ..., blocked_resource_types: _Optional[_Iterable[_Union[ResourceType, str]]] = ..., block_ads: _Optional[bool] = ..., extension_ids: _Optional[_Iterable[str]] = ..., profile: _Optional[_Union[ProfileRef, _Mapping]] = ..., idle_timeout_seconds: _Optional[int] = ..., max_duration_seconds: _Optional[int] = ..., keep_alive: _Optional[bool] = ..., cookies: _Optional[_Iterable[_Union[Cookie, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., user_metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., ignore_certificate_errors: _Optional[bool] = ..., allowed_domains: _Optional[_Iterable[str]] = ..., region: _Optional[str] = ..., solve_captchas: _Optional[bool] = ..., record_session: _Optional[bool] = ..., log_session: _Optional[bool] = ..., dismiss_blockers: _Optional[bool] = ..., extra_http_headers: _Optional[_Iterable[str]] = ..., headful: _Optional[bool] = ..., dialect: _Optional[str] = ..., accept_downloads: _Optional[bool] = ..., chrome_args: _Optional[_Iterable[str]] = ..., vault_id: _Optional[str] = ...) -> None: ...

class Session(_message.Message):
    __slots__ = ("id", "project_id", "state", "end_cause", "end_reason", "options", "node_id", "cdp_url", "cdp_token", "created_at", "started_at", "ended_at", "expires_at", "updated_at", "last_activity_at", "connected_clients", "warm", "idle_timeout_seconds", "max_duration_seconds", "browser_version", "user_agent", "browser_seconds", "live_view_token", "save_profile_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    END_CAUSE_FIELD_NUMBER: _ClassVar[int]
    END_REASON_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    NODE_ID_FIELD_NUMBER: _ClassVar[int]
    CDP_URL_FIELD_NUMBER: _ClassVar[int]
    CDP_TOKEN_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_ACTIVITY_AT_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    WARM_FIELD_NUMBER: _ClassVar[int]
    IDLE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BROWSER_VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    BROWSER_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LIVE_VIEW_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SAVE_PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    project_id: str
    state: SessionState
    end_cause: EndCause
    end_reason: str
    options: SessionOptions
    node_id: str
    cdp_url: str
    cdp_token: str
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    last_activity_at: _timestamp_pb2.Timestamp
    connected_clients: int
    warm: bool
    idle_timeout_seconds: int
    max_duration_seconds: int
    browser_version: str
    user_agent: str
    browser_seconds: float
    live_view_token: str
    save_profile_id: str
    def __init__(self, id: _Optional[str] = ..., project_id: _Optional[str] = ..., state: _Optional[_Union[SessionState, str]] = ..., end_cause: _Optional[_Union[EndCause, str]] = ..., end_reason: _Optional[str] = ..., options: _Optional[_Union[SessionOptions, _Mapping]] = ..., node_id: _Optional[str] = ..., cdp_url: _Optional[str] = ..., cdp_token: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_activity_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., connected_clients: _Optional[int] = ..., warm: _Optional[bool] = ..., idle_timeout_seconds: _Optional[int] = ..., max_duration_seconds: _Optional[int] = ..., browser_version: _Optional[str] = ..., user_agent: _Optional[str] = ..., browser_seconds: _Optional[float] = ..., live_view_token: _Optional[str] = ..., save_profile_id: _Optional[str] = ...) -> None: ...
