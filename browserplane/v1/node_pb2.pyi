from browserplane.v1 import session_pb2 as _session_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class StartBrowserRequest(_message.Message):
    __slots__ = ("session_id", "project_id", "options", "set_profile_cookies", "profile_cookies")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PROJECT_ID_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    SET_PROFILE_COOKIES_FIELD_NUMBER: _ClassVar[int]
    PROFILE_COOKIES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    project_id: str
    options: _session_pb2.SessionOptions
    set_profile_cookies: bool
    profile_cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    def __init__(self, session_id: _Optional[str] = ..., project_id: _Optional[str] = ..., options: _Optional[_Union[_session_pb2.SessionOptions, _Mapping]] = ..., set_profile_cookies: _Optional[bool] = ..., profile_cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class BrowserInfo(_message.Message):
    __slots__ = ("session_id", "pid", "version", "user_agent", "warm", "launch_ms", "start_ms", "connected_clients")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    USER_AGENT_FIELD_NUMBER: _ClassVar[int]
    WARM_FIELD_NUMBER: _ClassVar[int]
    LAUNCH_MS_FIELD_NUMBER: _ClassVar[int]
    START_MS_FIELD_NUMBER: _ClassVar[int]
    CONNECTED_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    pid: int
    version: str
    user_agent: str
    warm: bool
    launch_ms: float
    start_ms: float
    connected_clients: int
    def __init__(self, session_id: _Optional[str] = ..., pid: _Optional[int] = ..., version: _Optional[str] = ..., user_agent: _Optional[str] = ..., warm: _Optional[bool] = ..., launch_ms: _Optional[float] = ..., start_ms: _Optional[float] = ..., connected_clients: _Optional[int] = ...) -> None: ...

class StartBrowserResponse(_message.Message):
    __slots__ = ("browser",)
    BROWSER_FIELD_NUMBER: _ClassVar[int]
    browser: BrowserInfo
    def __init__(self, browser: _Optional[_Union[BrowserInfo, _Mapping]] = ...) -> None: ...

class StopBrowserRequest(_message.Message):
    __slots__ = ("session_id", "save_profile", "profile_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SAVE_PROFILE_FIELD_NUMBER: _ClassVar[int]
    PROFILE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    save_profile: bool
    profile_id: str
    def __init__(self, session_id: _Optional[str] = ..., save_profile: _Optional[bool] = ..., profile_id: _Optional[str] = ...) -> None: ...

class StopBrowserResponse(_message.Message):
    __slots__ = ("was_running", "profile_bytes")
    WAS_RUNNING_FIELD_NUMBER: _ClassVar[int]
    PROFILE_BYTES_FIELD_NUMBER: _ClassVar[int]
    was_running: bool
    profile_bytes: int
    def __init__(self, was_running: _Optional[bool] = ..., profile_bytes: _Optional[int] = ...) -> None: ...

class ListBrowsersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListBrowsersResponse(_message.Message):
    __slots__ = ("browsers",)
    BROWSERS_FIELD_NUMBER: _ClassVar[int]
    browsers: _containers.RepeatedCompositeFieldContainer[BrowserInfo]
    def __init__(self, browsers: _Optional[_Iterable[_Union[BrowserInfo, _Mapping]]] = ...) -> None: ...

class DrainRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DrainResponse(_message.Message):
    __slots__ = ("live_sessions",)
    LIVE_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    live_sessions: int
    def __init__(self, live_sessions: _Optional[int] = ...) -> None: ...
