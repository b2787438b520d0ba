import datetime

from browserplane.v1 import session_pb2 as _session_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WaitUntil(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    WAIT_UNTIL_UNSPECIFIED: _ClassVar[WaitUntil]
    LOAD: _ClassVar[WaitUntil]
    DOM_CONTENT_LOADED: _ClassVar[WaitUntil]
    NETWORK_IDLE: _ClassVar[WaitUntil]
    COMMIT: _ClassVar[WaitUntil]
    NO_WAIT: _ClassVar[WaitUntil]

class VaultSecret(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VAULT_SECRET_UNSPECIFIED: _ClassVar[VaultSecret]
    VAULT_USERNAME: _ClassVar[VaultSecret]
    VAULT_EMAIL: _ClassVar[VaultSecret]
    VAULT_PASSWORD: _ClassVar[VaultSecret]
    VAULT_MFA_CODE: _ClassVar[VaultSecret]

class FileKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FILE_KIND_UNSPECIFIED: _ClassVar[FileKind]
    DOWNLOAD: _ClassVar[FileKind]
    UPLOAD: _ClassVar[FileKind]
    ARTIFACT: _ClassVar[FileKind]

class Intent(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INTENT_UNSPECIFIED: _ClassVar[Intent]
    CLICK: _ClassVar[Intent]
    TYPE: _ClassVar[Intent]
    SELECT: _ClassVar[Intent]
    HOVER: _ClassVar[Intent]
    SCROLL: _ClassVar[Intent]
    CHECK: _ClassVar[Intent]
WAIT_UNTIL_UNSPECIFIED: WaitUntil
LOAD: WaitUntil
DOM_CONTENT_LOADED: WaitUntil
NETWORK_IDLE: WaitUntil
COMMIT: WaitUntil
NO_WAIT: WaitUntil
VAULT_SECRET_UNSPECIFIED: VaultSecret
VAULT_USERNAME: VaultSecret
VAULT_EMAIL: VaultSecret
VAULT_PASSWORD: VaultSecret
VAULT_MFA_CODE: VaultSecret
FILE_KIND_UNSPECIFIED: FileKind
DOWNLOAD: FileKind
UPLOAD: FileKind
ARTIFACT: FileKind
INTENT_UNSPECIFIED: Intent
CLICK: Intent
TYPE: Intent
SELECT: Intent
HOVER: Intent
SCROLL: Intent
CHECK: Intent

class PageInfo(_message.Message):
    __slots__ = ("id", "url", "title", "active", "favicon_url", "index")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    FAVICON_URL_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    id: str
    url: str
    title: str
    active: bool
    favicon_url: str
    index: int
    def __init__(self, id: _Optional[str] = ..., url: _Optional[str] = ..., title: _Optional[str] = ..., active: _Optional[bool] = ..., favicon_url: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class ListPagesRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ListPagesResponse(_message.Message):
    __slots__ = ("pages",)
    PAGES_FIELD_NUMBER: _ClassVar[int]
    pages: _containers.RepeatedCompositeFieldContainer[PageInfo]
    def __init__(self, pages: _Optional[_Iterable[_Union[PageInfo, _Mapping]]] = ...) -> None: ...

class OpenPageRequest(_message.Message):
    __slots__ = ("session_id", "url", "wait_until", "timeout_ms", "viewport")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    url: str
    wait_until: WaitUntil
    timeout_ms: int
    viewport: _session_pb2.Viewport
    def __init__(self, session_id: _Optional[str] = ..., url: _Optional[str] = ..., wait_until: _Optional[_Union[WaitUntil, str]] = ..., timeout_ms: _Optional[int] = ..., viewport: _Optional[_Union[_session_pb2.Viewport, _Mapping]] = ...) -> None: ...

class ClosePageRequest(_message.Message):
    __slots__ = ("session_id", "page_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ...) -> None: ...

class ClosePageResponse(_message.Message):
    __slots__ = ("page",)
    PAGE_FIELD_NUMBER: _ClassVar[int]
    page: PageInfo
    def __init__(self, page: _Optional[_Union[PageInfo, _Mapping]] = ...) -> None: ...

class SwitchPageRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "index")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    index: int
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., index: _Optional[int] = ...) -> None: ...

class NavigateRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "kind", "url", "wait_until", "timeout_ms", "wait_for_selector")
    class Kind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        KIND_UNSPECIFIED: _ClassVar[NavigateRequest.Kind]
        GOTO: _ClassVar[NavigateRequest.Kind]
        BACK: _ClassVar[NavigateRequest.Kind]
        FORWARD: _ClassVar[NavigateRequest.Kind]
        RELOAD: _ClassVar[NavigateRequest.Kind]
    KIND_UNSPECIFIED: NavigateRequest.Kind
    GOTO: NavigateRequest.Kind
    BACK: NavigateRequest.Kind
    FORWARD: NavigateRequest.Kind
    RELOAD: NavigateRequest.Kind
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    WAIT_UNTIL_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    kind: NavigateRequest.Kind
    url: str
    wait_until: WaitUntil
    timeout_ms: int
    wait_for_selector: str
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., kind: _Optional[_Union[NavigateRequest.Kind, str]] = ..., url: _Optional[str] = ..., wait_until: _Optional[_Union[WaitUntil, str]] = ..., timeout_ms: _Optional[int] = ..., wait_for_selector: _Optional[str] = ...) -> None: ...

class NavigateResponse(_message.Message):
    __slots__ = ("page", "http_status", "blockers_dismissed")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    HTTP_STATUS_FIELD_NUMBER: _ClassVar[int]
    BLOCKERS_DISMISSED_FIELD_NUMBER: _ClassVar[int]
    page: PageInfo
    http_status: int
    blockers_dismissed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, page: _Optional[_Union[PageInfo, _Mapping]] = ..., http_status: _Optional[int] = ..., blockers_dismissed: _Optional[_Iterable[str]] = ...) -> None: ...

class ObserveRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "scope", "mode", "include_links", "include_page_map", "max_text_length", "include_screenshot", "max_elements")
    class Mode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        MODE_UNSPECIFIED: _ClassVar[ObserveRequest.Mode]
        MAIN: _ClassVar[ObserveRequest.Mode]
        FULL: _ClassVar[ObserveRequest.Mode]
    MODE_UNSPECIFIED: ObserveRequest.Mode
    MAIN: ObserveRequest.Mode
    FULL: ObserveRequest.Mode
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SCOPE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LINKS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PAGE_MAP_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    MAX_ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    scope: str
    mode: ObserveRequest.Mode
    include_links: bool
    include_page_map: bool
    max_text_length: int
    include_screenshot: bool
    max_elements: int
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., scope: _Optional[str] = ..., mode: _Optional[_Union[ObserveRequest.Mode, str]] = ..., include_links: _Optional[bool] = ..., include_page_map: _Optional[bool] = ..., max_text_length: _Optional[int] = ..., include_screenshot: _Optional[bool] = ..., max_elements: _Optional[int] = ...) -> None: ...

class Element(_message.Message):
    __slots__ = ("ref", "tag", "role", "label", "value", "type", "name", "href", "checked", "disabled", "in_viewport", "form_ref", "options", "x", "y", "width", "height", "selector")
    REF_FIELD_NUMBER: _ClassVar[int]
    TAG_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    HREF_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    IN_VIEWPORT_FIELD_NUMBER: _ClassVar[int]
    FORM_REF_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    ref: str
    tag: str
    role: str
    label: str
    value: str
    type: str
    name: str
    href: str
    checked: bool
    disabled: bool
    in_viewport: bool
    form_ref: str
    options: _containers.RepeatedScalarFieldContainer[str]
    x: float
    y: float
    width: float
    height: float
    selector: str
    def __init__(self, ref: _Optional[str] = ..., tag: _Optional[str] = ..., role: _Optional[str] = ..., label: _Optional[str] = ..., value: _Optional[str] = ..., type: _Optional[str] = ..., name: _Optional[str] = ..., href: _Optional[str] = ..., checked: _Optional[bool] = ..., disabled: _Optional[bool] = ..., in_viewport: _Optional[bool] = ..., form_ref: _Optional[str] = ..., options: _Optional[_Iterable[str]] = ..., x: _Optional[float] = ..., y: _Optional[float] = ..., width: _Optional[float] = ..., height: _Optional[float] = ..., selector: _Optional[str] = ...) -> None: ...

class Form(_message.Message):
    __slots__ = ("ref", "action", "method", "field_refs", "selector")
    REF_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    FIELD_REFS_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    ref: str
    action: str
    method: str
    field_refs: _containers.RepeatedScalarFieldContainer[str]
    selector: str
    def __init__(self, ref: _Optional[str] = ..., action: _Optional[str] = ..., method: _Optional[str] = ..., field_refs: _Optional[_Iterable[str]] = ..., selector: _Optional[str] = ...) -> None: ...

class PageSection(_message.Message):
    __slots__ = ("section", "selector", "hint")
    SECTION_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    HINT_FIELD_NUMBER: _ClassVar[int]
    section: str
    selector: str
    hint: str
    def __init__(self, section: _Optional[str] = ..., selector: _Optional[str] = ..., hint: _Optional[str] = ...) -> None: ...

class ScrollState(_message.Message):
    __slots__ = ("x", "y", "height", "width", "viewport_height", "viewport_width", "percent")
    X_FIELD_NUMBER: _ClassVar[int]
    Y_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    VIEWPORT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    PERCENT_FIELD_NUMBER: _ClassVar[int]
    x: float
    y: float
    height: float
    width: float
    viewport_height: float
    viewport_width: float
    percent: float
    def __init__(self, x: _Optional[float] = ..., y: _Optional[float] = ..., height: _Optional[float] = ..., width: _Optional[float] = ..., viewport_height: _Optional[float] = ..., viewport_width: _Optional[float] = ..., percent: _Optional[float] = ...) -> None: ...

class Changes(_message.Message):
    __slots__ = ("content_changed", "content_delta", "elements_added", "elements_removed")
    CONTENT_CHANGED_FIELD_NUMBER: _ClassVar[int]
    CONTENT_DELTA_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_ADDED_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_REMOVED_FIELD_NUMBER: _ClassVar[int]
    content_changed: bool
    content_delta: str
    elements_added: _containers.RepeatedScalarFieldContainer[str]
    elements_removed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, content_changed: _Optional[bool] = ..., content_delta: _Optional[str] = ..., elements_added: _Optional[_Iterable[str]] = ..., elements_removed: _Optional[_Iterable[str]] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("text", "href")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    HREF_FIELD_NUMBER: _ClassVar[int]
    text: str
    href: str
    def __init__(self, text: _Optional[str] = ..., href: _Optional[str] = ...) -> None: ...

class Observation(_message.Message):
    __slots__ = ("page", "stable", "markdown", "markdown_shown", "markdown_total", "elements", "forms", "map", "scroll", "changes", "links", "screenshot", "pages")
    PAGE_FIELD_NUMBER: _ClassVar[int]
    STABLE_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_SHOWN_FIELD_NUMBER: _ClassVar[int]
    MARKDOWN_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ELEMENTS_FIELD_NUMBER: _ClassVar[int]
    FORMS_FIELD_NUMBER: _ClassVar[int]
    MAP_FIELD_NUMBER: _ClassVar[int]
    SCROLL_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    SCREENSHOT_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    page: PageInfo
    stable: bool
    markdown: str
    markdown_shown: int
    markdown_total: int
    elements: _containers.RepeatedCompositeFieldContainer[Element]
    forms: _containers.RepeatedCompositeFieldContainer[Form]
    map: _containers.RepeatedCompositeFieldContainer[PageSection]
    scroll: ScrollState
    changes: Changes
    links: _containers.RepeatedCompositeFieldContainer[Link]
    screenshot: bytes
    pages: _containers.RepeatedCompositeFieldContainer[PageInfo]
    def __init__(self, page: _Optional[_Union[PageInfo, _Mapping]] = ..., stable: _Optional[bool] = ..., markdown: _Optional[str] = ..., markdown_shown: _Optional[int] = ..., markdown_total: _Optional[int] = ..., elements: _Optional[_Iterable[_Union[Element, _Mapping]]] = ..., forms: _Optional[_Iterable[_Union[Form, _Mapping]]] = ..., map: _Optional[_Iterable[_Union[PageSection, _Mapping]]] = ..., scroll: _Optional[_Union[ScrollState, _Mapping]] = ..., changes: _Optional[_Union[Changes, _Mapping]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., screenshot: _Optional[bytes] = ..., pages: _Optional[_Iterable[_Union[PageInfo, _Mapping]]] = ...) -> None: ...

class ElementTarget(_message.Message):
    __slots__ = ("ref", "selector", "text", "label", "description")
    REF_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ref: str
    selector: str
    text: str
    label: str
    description: str
    def __init__(self, ref: _Optional[str] = ..., selector: _Optional[str] = ..., text: _Optional[str] = ..., label: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class Click(_message.Message):
    __slots__ = ("target", "button", "click_count", "wait_for_navigation")
    class Button(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        BUTTON_UNSPECIFIED: _ClassVar[Click.Button]
        LEFT: _ClassVar[Click.Button]
        RIGHT: _ClassVar[Click.Button]
        MIDDLE: _ClassVar[Click.Button]
    BUTTON_UNSPECIFIED: Click.Button
    LEFT: Click.Button
    RIGHT: Click.Button
    MIDDLE: Click.Button
    TARGET_FIELD_NUMBER: _ClassVar[int]
    BUTTON_FIELD_NUMBER: _ClassVar[int]
    CLICK_COUNT_FIELD_NUMBER: _ClassVar[int]
    WAIT_FOR_NAVIGATION_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    button: Click.Button
    click_count: int
    wait_for_navigation: bool
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., button: _Optional[_Union[Click.Button, str]] = ..., click_count: _Optional[int] = ..., wait_for_navigation: _Optional[bool] = ...) -> None: ...

class Fill(_message.Message):
    __slots__ = ("target", "value", "press_enter", "vault_secret")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    PRESS_ENTER_FIELD_NUMBER: _ClassVar[int]
    VAULT_SECRET_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    value: str
    press_enter: bool
    vault_secret: VaultSecret
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., value: _Optional[str] = ..., press_enter: _Optional[bool] = ..., vault_secret: _Optional[_Union[VaultSecret, str]] = ...) -> None: ...

class TypeText(_message.Message):
    __slots__ = ("target", "text", "delay_ms", "clear_first", "press_enter", "press_tab")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    CLEAR_FIRST_FIELD_NUMBER: _ClassVar[int]
    PRESS_ENTER_FIELD_NUMBER: _ClassVar[int]
    PRESS_TAB_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    text: str
    delay_ms: int
    clear_first: bool
    press_enter: bool
    press_tab: bool
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., text: _Optional[str] = ..., delay_ms: _Optional[int] = ..., clear_first: _Optional[bool] = ..., press_enter: _Optional[bool] = ..., press_tab: _Optional[bool] = ...) -> None: ...

class Select(_message.Message):
    __slots__ = ("target", "values")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class Check(_message.Message):
    __slots__ = ("target", "checked")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    CHECKED_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    checked: bool
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., checked: _Optional[bool] = ...) -> None: ...

class Hover(_message.Message):
    __slots__ = ("target",)
    TARGET_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ...) -> None: ...

class PressKey(_message.Message):
    __slots__ = ("key", "target")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    key: str
    target: ElementTarget
    def __init__(self, key: _Optional[str] = ..., target: _Optional[_Union[ElementTarget, _Mapping]] = ...) -> None: ...

class Scroll(_message.Message):
    __slots__ = ("to_element", "edge", "delta_x", "delta_y", "times", "within")
    class Edge(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        EDGE_UNSPECIFIED: _ClassVar[Scroll.Edge]
        TOP: _ClassVar[Scroll.Edge]
        BOTTOM: _ClassVar[Scroll.Edge]
        LEFT: _ClassVar[Scroll.Edge]
        RIGHT: _ClassVar[Scroll.Edge]
    EDGE_UNSPECIFIED: Scroll.Edge
    TOP: Scroll.Edge
    BOTTOM: Scroll.Edge
    LEFT: Scroll.Edge
    RIGHT: Scroll.Edge
    TO_ELEMENT_FIELD_NUMBER: _ClassVar[int]
    EDGE_FIELD_NUMBER: _ClassVar[int]
    DELTA_X_FIELD_NUMBER: _ClassVar[int]
    DELTA_Y_FIELD_NUMBER: _ClassVar[int]
    TIMES_FIELD_NUMBER: _ClassVar[int]
    WITHIN_FIELD_NUMBER: _ClassVar[int]
    to_element: ElementTarget
    edge: Scroll.Edge
    delta_x: int
    delta_y: int
    times: int
    within: ElementTarget
    def __init__(self, to_element: _Optional[_Union[ElementTarget, _Mapping]] = ..., edge: _Optional[_Union[Scroll.Edge, str]] = ..., delta_x: _Optional[int] = ..., delta_y: _Optional[int] = ..., times: _Optional[int] = ..., within: _Optional[_Union[ElementTarget, _Mapping]] = ...) -> None: ...

class ScrollCollect(_message.Message):
    __slots__ = ("max_scrolls", "wait_ms", "timeout_ms", "max_text_length")
    MAX_SCROLLS_FIELD_NUMBER: _ClassVar[int]
    WAIT_MS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_TEXT_LENGTH_FIELD_NUMBER: _ClassVar[int]
    max_scrolls: int
    wait_ms: int
    timeout_ms: int
    max_text_length: int
    def __init__(self, max_scrolls: _Optional[int] = ..., wait_ms: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., max_text_length: _Optional[int] = ...) -> None: ...

class Upload(_message.Message):
    __slots__ = ("target", "files")
    TARGET_FIELD_NUMBER: _ClassVar[int]
    FILES_FIELD_NUMBER: _ClassVar[int]
    target: ElementTarget
    files: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, target: _Optional[_Union[ElementTarget, _Mapping]] = ..., files: _Optional[_Iterable[str]] = ...) -> None: ...

class Wait(_message.Message):
    __slots__ = ("time_ms", "selector", "text", "until_js", "network_idle", "timeout_ms", "url_pattern")
    TIME_MS_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_JS_FIELD_NUMBER: _ClassVar[int]
    NETWORK_IDLE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    URL_PATTERN_FIELD_NUMBER: _ClassVar[int]
    time_ms: int
    selector: str
    text: str
    until_js: str
    network_idle: bool
    timeout_ms: int
    url_pattern: str
    def __init__(self, time_ms: _Optional[int] = ..., selector: _Optional[str] = ..., text: _Optional[str] = ..., until_js: _Optional[str] = ..., network_idle: _Optional[bool] = ..., timeout_ms: _Optional[int] = ..., url_pattern: _Optional[str] = ...) -> None: ...

class FillForm(_message.Message):
    __slots__ = ("fields", "submit")
    class FieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    FIELDS_FIELD_NUMBER: _ClassVar[int]
    SUBMIT_FIELD_NUMBER: _ClassVar[int]
    fields: _containers.ScalarMap[str, str]
    submit: bool
    def __init__(self, fields: _Optional[_Mapping[str, str]] = ..., submit: _Optional[bool] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("click", "fill", "type", "select", "check", "hover", "press", "scroll", "scroll_collect", "upload", "wait", "fill_form", "timeout_ms")
    CLICK_FIELD_NUMBER: _ClassVar[int]
    FILL_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SELECT_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    HOVER_FIELD_NUMBER: _ClassVar[int]
    PRESS_FIELD_NUMBER: _ClassVar[int]
    SCROLL_FIELD_NUMBER: _ClassVar[int]
    SCROLL_COLLECT_FIELD_NUMBER: _ClassVar[int]
    UPLOAD_FIELD_NUMBER: _ClassVar[int]
    WAIT_FIELD_NUMBER: _ClassVar[int]
    FILL_FORM_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    click: Click
    fill: Fill
    type: TypeText
    select: Select
    check: Check
    hover: Hover
    press: PressKey
    scroll: Scroll
    scroll_collect: ScrollCollect
    upload: Upload
    wait: Wait
    fill_form: FillForm
    timeout_ms: int
    def __init__(self, click: _Optional[_Union[Click, _Mapping]] = ..., fill: _Optional[_Union[Fill, _Mapping]] = ..., type: _Optional[_Union[TypeText, _Mapping]] = ..., select: _Optional[_Union[Select, _Mapping]] = ..., check: _Optional[_Union[Check, _Mapping]] = ..., hover: _Optional[_Union[Hover, _Mapping]] = ..., press: _Optional[_Union[PressKey, _Mapping]] = ..., scroll: _Optional[_Union[Scroll, _Mapping]] = ..., scroll_collect: _Optional[_Union[ScrollCollect, _Mapping]] = ..., upload: _Optional[_Union[Upload, _Mapping]] = ..., wait: _Optional[_Union[Wait, _Mapping]] = ..., fill_form: _Optional[_Union[FillForm, _Mapping]] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class ActRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "action")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    action: Action
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., action: _Optional[_Union[Action, _Mapping]] = ...) -> None: ...

class ActResponse(_message.Message):
    __slots__ = ("success", "message", "page", "navigated", "collected_markdown", "collected_total", "fields_filled", "submitted", "resolved", "usage")
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    NAVIGATED_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_MARKDOWN_FIELD_NUMBER: _ClassVar[int]
    COLLECTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    FIELDS_FILLED_FIELD_NUMBER: _ClassVar[int]
    SUBMITTED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    success: bool
    message: str
    page: PageInfo
    navigated: bool
    collected_markdown: str
    collected_total: int
    fields_filled: _containers.RepeatedScalarFieldContainer[str]
    submitted: bool
    resolved: Resolution
    usage: ModelUsage
    def __init__(self, success: _Optional[bool] = ..., message: _Optional[str] = ..., page: _Optional[_Union[PageInfo, _Mapping]] = ..., navigated: _Optional[bool] = ..., collected_markdown: _Optional[str] = ..., collected_total: _Optional[int] = ..., fields_filled: _Optional[_Iterable[str]] = ..., submitted: _Optional[bool] = ..., resolved: _Optional[_Union[Resolution, _Mapping]] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class ExtractRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "schema")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    schema: _struct_pb2.Struct
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., schema: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ExtractResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: _struct_pb2.Struct
    def __init__(self, data: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class ScreenshotRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "full_page", "format", "quality", "element", "keep_as_artifact")
    class Format(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        FORMAT_UNSPECIFIED: _ClassVar[ScreenshotRequest.Format]
        PNG: _ClassVar[ScreenshotRequest.Format]
        JPEG: _ClassVar[ScreenshotRequest.Format]
    FORMAT_UNSPECIFIED: ScreenshotRequest.Format
    PNG: ScreenshotRequest.Format
    JPEG: ScreenshotRequest.Format
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    FULL_PAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    KEEP_AS_ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    full_page: bool
    format: ScreenshotRequest.Format
    quality: int
    element: ElementTarget
    keep_as_artifact: bool
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., full_page: _Optional[bool] = ..., format: _Optional[_Union[ScreenshotRequest.Format, str]] = ..., quality: _Optional[int] = ..., element: _Optional[_Union[ElementTarget, _Mapping]] = ..., keep_as_artifact: _Optional[bool] = ...) -> None: ...

class ScreenshotResponse(_message.Message):
    __slots__ = ("data", "mime_type", "width", "height", "artifact_name")
    DATA_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_NAME_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    mime_type: str
    width: int
    height: int
    artifact_name: str
    def __init__(self, data: _Optional[bytes] = ..., mime_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., artifact_name: _Optional[str] = ...) -> None: ...

class PdfRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "paper_format", "landscape", "print_background", "scale", "margin_top", "margin_right", "margin_bottom", "margin_left")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PAPER_FORMAT_FIELD_NUMBER: _ClassVar[int]
    LANDSCAPE_FIELD_NUMBER: _ClassVar[int]
    PRINT_BACKGROUND_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    MARGIN_TOP_FIELD_NUMBER: _ClassVar[int]
    MARGIN_RIGHT_FIELD_NUMBER: _ClassVar[int]
    MARGIN_BOTTOM_FIELD_NUMBER: _ClassVar[int]
    MARGIN_LEFT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    paper_format: str
    landscape: bool
    print_background: bool
    scale: float
    margin_top: str
    margin_right: str
    margin_bottom: str
    margin_left: str
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., paper_format: _Optional[str] = ..., landscape: _Optional[bool] = ..., print_background: _Optional[bool] = ..., scale: _Optional[float] = ..., margin_top: _Optional[str] = ..., margin_right: _Optional[str] = ..., margin_bottom: _Optional[str] = ..., margin_left: _Optional[str] = ...) -> None: ...

class PdfResponse(_message.Message):
    __slots__ = ("data",)
    DATA_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    def __init__(self, data: _Optional[bytes] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "expression", "timeout_ms", "element")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    EXPRESSION_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    expression: str
    timeout_ms: int
    element: ElementTarget
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., expression: _Optional[str] = ..., timeout_ms: _Optional[int] = ..., element: _Optional[_Union[ElementTarget, _Mapping]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("result", "error")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    result: _struct_pb2.Value
    error: str
    def __init__(self, result: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., error: _Optional[str] = ...) -> None: ...

class DismissBlockersRequest(_message.Message):
    __slots__ = ("session_id", "page_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ...) -> None: ...

class DismissBlockersResponse(_message.Message):
    __slots__ = ("dismissed",)
    DISMISSED_FIELD_NUMBER: _ClassVar[int]
    dismissed: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dismissed: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCookiesRequest(_message.Message):
    __slots__ = ("session_id", "urls")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, session_id: _Optional[str] = ..., urls: _Optional[_Iterable[str]] = ...) -> None: ...

class GetCookiesResponse(_message.Message):
    __slots__ = ("cookies",)
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    def __init__(self, cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class SetCookiesRequest(_message.Message):
    __slots__ = ("session_id", "cookies")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    COOKIES_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    cookies: _containers.RepeatedCompositeFieldContainer[_session_pb2.Cookie]
    def __init__(self, session_id: _Optional[str] = ..., cookies: _Optional[_Iterable[_Union[_session_pb2.Cookie, _Mapping]]] = ...) -> None: ...

class SetCookiesResponse(_message.Message):
    __slots__ = ("set",)
    SET_FIELD_NUMBER: _ClassVar[int]
    set: int
    def __init__(self, set: _Optional[int] = ...) -> None: ...

class ClearCookiesRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ClearCookiesResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LogRequest(_message.Message):
    __slots__ = ("session_id", "offset", "limit", "page_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    offset: int
    limit: int
    page_id: str
    def __init__(self, session_id: _Optional[str] = ..., offset: _Optional[int] = ..., limit: _Optional[int] = ..., page_id: _Optional[str] = ...) -> None: ...

class ConsoleEntry(_message.Message):
    __slots__ = ("level", "text", "url", "timestamp", "page_id")
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    level: str
    text: str
    url: str
    timestamp: _timestamp_pb2.Timestamp
    page_id: str
    def __init__(self, level: _Optional[str] = ..., text: _Optional[str] = ..., url: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_id: _Optional[str] = ...) -> None: ...

class ConsoleLogResponse(_message.Message):
    __slots__ = ("entries", "total", "dropped")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ConsoleEntry]
    total: int
    dropped: int
    def __init__(self, entries: _Optional[_Iterable[_Union[ConsoleEntry, _Mapping]]] = ..., total: _Optional[int] = ..., dropped: _Optional[int] = ...) -> None: ...

class NetworkEntry(_message.Message):
    __slots__ = ("request_id", "url", "method", "status", "resource_type", "duration_ms", "size_bytes", "started_at", "failed", "error_text", "page_id", "mime_type")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_TYPE_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_TEXT_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    url: str
    method: str
    status: int
    resource_type: str
    duration_ms: float
    size_bytes: int
    started_at: _timestamp_pb2.Timestamp
    failed: bool
    error_text: str
    page_id: str
    mime_type: str
    def __init__(self, request_id: _Optional[str] = ..., url: _Optional[str] = ..., method: _Optional[str] = ..., status: _Optional[int] = ..., resource_type: _Optional[str] = ..., duration_ms: _Optional[float] = ..., size_bytes: _Optional[int] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., failed: _Optional[bool] = ..., error_text: _Optional[str] = ..., page_id: _Optional[str] = ..., mime_type: _Optional[str] = ...) -> None: ...

class NetworkLogResponse(_message.Message):
    __slots__ = ("entries", "total", "dropped")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[NetworkEntry]
    total: int
    dropped: int
    def __init__(self, entries: _Optional[_Iterable[_Union[NetworkEntry, _Mapping]]] = ..., total: _Optional[int] = ..., dropped: _Optional[int] = ...) -> None: ...

class ActionEntry(_message.Message):
    __slots__ = ("type", "timestamp", "success", "details", "duration_ms", "error_reason")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_REASON_FIELD_NUMBER: _ClassVar[int]
    type: str
    timestamp: _timestamp_pb2.Timestamp
    success: bool
    details: _struct_pb2.Struct
    duration_ms: float
    error_reason: str
    def __init__(self, type: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., success: _Optional[bool] = ..., details: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., duration_ms: _Optional[float] = ..., error_reason: _Optional[str] = ...) -> None: ...

class ActionLogResponse(_message.Message):
    __slots__ = ("entries", "total")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[ActionEntry]
    total: int
    def __init__(self, entries: _Optional[_Iterable[_Union[ActionEntry, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class CdpLogEntry(_message.Message):
    __slots__ = ("method", "page_id", "params_json", "result_json", "timestamp", "page_index")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    RESULT_JSON_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    PAGE_INDEX_FIELD_NUMBER: _ClassVar[int]
    method: str
    page_id: str
    params_json: str
    result_json: str
    timestamp: _timestamp_pb2.Timestamp
    page_index: int
    def __init__(self, method: _Optional[str] = ..., page_id: _Optional[str] = ..., params_json: _Optional[str] = ..., result_json: _Optional[str] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., page_index: _Optional[int] = ...) -> None: ...

class CdpLogResponse(_message.Message):
    __slots__ = ("entries", "total")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[CdpLogEntry]
    total: int
    def __init__(self, entries: _Optional[_Iterable[_Union[CdpLogEntry, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class FileInfo(_message.Message):
    __slots__ = ("name", "kind", "size_bytes", "mime_type", "created_at", "sha256", "path", "id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MIME_TYPE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    kind: FileKind
    size_bytes: int
    mime_type: str
    created_at: _timestamp_pb2.Timestamp
    sha256: str
    path: str
    id: str
    def __init__(self, name: _Optional[str] = ..., kind: _Optional[_Union[FileKind, str]] = ..., size_bytes: _Optional[int] = ..., mime_type: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., sha256: _Optional[str] = ..., path: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class ListFilesRequest(_message.Message):
    __slots__ = ("session_id", "kind")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: FileKind
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[FileKind, str]] = ...) -> None: ...

class ListFilesResponse(_message.Message):
    __slots__ = ("files",)
    FILES_FIELD_NUMBER: _ClassVar[int]
    files: _containers.RepeatedCompositeFieldContainer[FileInfo]
    def __init__(self, files: _Optional[_Iterable[_Union[FileInfo, _Mapping]]] = ...) -> None: ...

class ReadFileRequest(_message.Message):
    __slots__ = ("session_id", "kind", "name", "id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: FileKind
    name: str
    id: str
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[FileKind, str]] = ..., name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class FileChunk(_message.Message):
    __slots__ = ("session_id", "kind", "name", "data")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: FileKind
    name: str
    data: bytes
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[FileKind, str]] = ..., name: _Optional[str] = ..., data: _Optional[bytes] = ...) -> None: ...

class DeleteFilesRequest(_message.Message):
    __slots__ = ("session_id", "kind", "name", "id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    kind: FileKind
    name: str
    id: str
    def __init__(self, session_id: _Optional[str] = ..., kind: _Optional[_Union[FileKind, str]] = ..., name: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class DeleteFilesResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: int
    def __init__(self, deleted: _Optional[int] = ...) -> None: ...

class CheckHealthRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class SessionLogs(_message.Message):
    __slots__ = ("actions", "console", "network", "health")
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    CONSOLE_FIELD_NUMBER: _ClassVar[int]
    NETWORK_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    actions: ActionLogResponse
    console: ConsoleLogResponse
    network: NetworkLogResponse
    health: BrowserHealth
    def __init__(self, actions: _Optional[_Union[ActionLogResponse, _Mapping]] = ..., console: _Optional[_Union[ConsoleLogResponse, _Mapping]] = ..., network: _Optional[_Union[NetworkLogResponse, _Mapping]] = ..., health: _Optional[_Union[BrowserHealth, _Mapping]] = ...) -> None: ...

class BrowserHealth(_message.Message):
    __slots__ = ("responsive", "current_url", "title", "uptime_ms", "pages", "navigations")
    RESPONSIVE_FIELD_NUMBER: _ClassVar[int]
    CURRENT_URL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    UPTIME_MS_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    NAVIGATIONS_FIELD_NUMBER: _ClassVar[int]
    responsive: bool
    current_url: str
    title: str
    uptime_ms: float
    pages: int
    navigations: int
    def __init__(self, responsive: _Optional[bool] = ..., current_url: _Optional[str] = ..., title: _Optional[str] = ..., uptime_ms: _Optional[float] = ..., pages: _Optional[int] = ..., navigations: _Optional[int] = ...) -> None: ...

class Resolution(_message.Message):
    __slots__ = ("description", "ref", "label", "role", "score", "why", "ambiguous", "chosen_by", "selector", "duration_ms")
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    AMBIGUOUS_FIELD_NUMBER: _ClassVar[int]
    CHOSEN_BY_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    description: str
    ref: str
    label: str
    role: str
    score: float
    why: str
    ambiguous: bool
    chosen_by: str
    selector: str
    duration_ms: float
    def __init__(self, description: _Optional[str] = ..., ref: _Optional[str] = ..., label: _Optional[str] = ..., role: _Optional[str] = ..., score: _Optional[float] = ..., why: _Optional[str] = ..., ambiguous: _Optional[bool] = ..., chosen_by: _Optional[str] = ..., selector: _Optional[str] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class LocateRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "description", "intent", "max_candidates", "offline", "no_cache")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INTENT_FIELD_NUMBER: _ClassVar[int]
    MAX_CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    OFFLINE_FIELD_NUMBER: _ClassVar[int]
    NO_CACHE_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    description: str
    intent: Intent
    max_candidates: int
    offline: bool
    no_cache: bool
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., description: _Optional[str] = ..., intent: _Optional[_Union[Intent, str]] = ..., max_candidates: _Optional[int] = ..., offline: _Optional[bool] = ..., no_cache: _Optional[bool] = ...) -> None: ...

class Candidate(_message.Message):
    __slots__ = ("element", "score", "why", "context")
    ELEMENT_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    WHY_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    element: Element
    score: float
    why: str
    context: str
    def __init__(self, element: _Optional[_Union[Element, _Mapping]] = ..., score: _Optional[float] = ..., why: _Optional[str] = ..., context: _Optional[str] = ...) -> None: ...

class LocateResponse(_message.Message):
    __slots__ = ("candidates", "best", "usage")
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    BEST_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    candidates: _containers.RepeatedCompositeFieldContainer[Candidate]
    best: Resolution
    usage: ModelUsage
    def __init__(self, candidates: _Optional[_Iterable[_Union[Candidate, _Mapping]]] = ..., best: _Optional[_Union[Resolution, _Mapping]] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class ModelUsage(_message.Message):
    __slots__ = ("model", "calls", "prompt_tokens", "completion_tokens", "credits", "duration_ms")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    CALLS_FIELD_NUMBER: _ClassVar[int]
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CREDITS_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    model: str
    calls: int
    prompt_tokens: int
    completion_tokens: int
    credits: int
    duration_ms: float
    def __init__(self, model: _Optional[str] = ..., calls: _Optional[int] = ..., prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ..., credits: _Optional[int] = ..., duration_ms: _Optional[float] = ...) -> None: ...

class Budget(_message.Message):
    __slots__ = ("time_limit_ms", "credit_limit")
    TIME_LIMIT_MS_FIELD_NUMBER: _ClassVar[int]
    CREDIT_LIMIT_FIELD_NUMBER: _ClassVar[int]
    time_limit_ms: int
    credit_limit: int
    def __init__(self, time_limit_ms: _Optional[int] = ..., credit_limit: _Optional[int] = ...) -> None: ...

class AskRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "prompt", "json_schema", "follow_pagination", "max_pages", "budget")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_PAGINATION_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    prompt: str
    json_schema: str
    follow_pagination: bool
    max_pages: int
    budget: Budget
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., prompt: _Optional[str] = ..., json_schema: _Optional[str] = ..., follow_pagination: _Optional[bool] = ..., max_pages: _Optional[int] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "prompt", "json_schema", "budget")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    prompt: str
    json_schema: str
    budget: Budget
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., prompt: _Optional[str] = ..., json_schema: _Optional[str] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class ModelAnswer(_message.Message):
    __slots__ = ("text", "data", "status", "usage", "urls_read", "message")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    URLS_READ_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    text: str
    data: _struct_pb2.Value
    status: str
    usage: ModelUsage
    urls_read: _containers.RepeatedScalarFieldContainer[str]
    message: str
    def __init__(self, text: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., status: _Optional[str] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ..., urls_read: _Optional[_Iterable[str]] = ..., message: _Optional[str] = ...) -> None: ...

class MonitorRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "condition", "interval_ms", "timeout_ms", "budget", "reload")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    CONDITION_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    RELOAD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    condition: str
    interval_ms: int
    timeout_ms: int
    budget: Budget
    reload: bool
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., condition: _Optional[str] = ..., interval_ms: _Optional[int] = ..., timeout_ms: _Optional[int] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., reload: _Optional[bool] = ...) -> None: ...

class MonitorResponse(_message.Message):
    __slots__ = ("met", "explanation", "checks", "status", "usage")
    MET_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    met: bool
    explanation: str
    checks: int
    status: str
    usage: ModelUsage
    def __init__(self, met: _Optional[bool] = ..., explanation: _Optional[str] = ..., checks: _Optional[int] = ..., status: _Optional[str] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ...) -> None: ...

class PaginatedExtractRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "prompt", "json_schema", "max_pages", "next_description", "budget")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    PROMPT_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    MAX_PAGES_FIELD_NUMBER: _ClassVar[int]
    NEXT_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    prompt: str
    json_schema: str
    max_pages: int
    next_description: str
    budget: Budget
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., prompt: _Optional[str] = ..., json_schema: _Optional[str] = ..., max_pages: _Optional[int] = ..., next_description: _Optional[str] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ...) -> None: ...

class PaginatedExtractResponse(_message.Message):
    __slots__ = ("items", "pages", "stopped_because", "status", "usage", "urls_read")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    PAGES_FIELD_NUMBER: _ClassVar[int]
    STOPPED_BECAUSE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    URLS_READ_FIELD_NUMBER: _ClassVar[int]
    items: _struct_pb2.ListValue
    pages: int
    stopped_because: str
    status: str
    usage: ModelUsage
    urls_read: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, items: _Optional[_Union[_struct_pb2.ListValue, _Mapping]] = ..., pages: _Optional[int] = ..., stopped_because: _Optional[str] = ..., status: _Optional[str] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ..., urls_read: _Optional[_Iterable[str]] = ...) -> None: ...

class RunAgentRequest(_message.Message):
    __slots__ = ("session_id", "page_id", "task", "max_steps", "max_failures", "budget", "start_url", "json_schema", "persona_id")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_ID_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_FAILURES_FIELD_NUMBER: _ClassVar[int]
    BUDGET_FIELD_NUMBER: _ClassVar[int]
    START_URL_FIELD_NUMBER: _ClassVar[int]
    JSON_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    PERSONA_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    page_id: str
    task: str
    max_steps: int
    max_failures: int
    budget: Budget
    start_url: str
    json_schema: str
    persona_id: str
    def __init__(self, session_id: _Optional[str] = ..., page_id: _Optional[str] = ..., task: _Optional[str] = ..., max_steps: _Optional[int] = ..., max_failures: _Optional[int] = ..., budget: _Optional[_Union[Budget, _Mapping]] = ..., start_url: _Optional[str] = ..., json_schema: _Optional[str] = ..., persona_id: _Optional[str] = ...) -> None: ...

class AgentStep(_message.Message):
    __slots__ = ("index", "thought", "action", "ref", "text", "success", "message", "url", "duration_ms", "usage", "timestamp", "selector", "label")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    THOUGHT_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SUCCESS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    index: int
    thought: str
    action: str
    ref: str
    text: str
    success: bool
    message: str
    url: str
    duration_ms: float
    usage: ModelUsage
    timestamp: _timestamp_pb2.Timestamp
    selector: str
    label: str
    def __init__(self, index: _Optional[int] = ..., thought: _Optional[str] = ..., action: _Optional[str] = ..., ref: _Optional[str] = ..., text: _Optional[str] = ..., success: _Optional[bool] = ..., message: _Optional[str] = ..., url: _Optional[str] = ..., duration_ms: _Optional[float] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ..., timestamp: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., selector: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class AgentResult(_message.Message):
    __slots__ = ("status", "answer", "data", "steps", "usage", "message")
    class Status(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATUS_UNSPECIFIED: _ClassVar[AgentResult.Status]
        DONE: _ClassVar[AgentResult.Status]
        FAILED: _ClassVar[AgentResult.Status]
        STEP_LIMIT: _ClassVar[AgentResult.Status]
        NEEDS_HUMAN: _ClassVar[AgentResult.Status]
        BUDGET: _ClassVar[AgentResult.Status]
    STATUS_UNSPECIFIED: AgentResult.Status
    DONE: AgentResult.Status
    FAILED: AgentResult.Status
    STEP_LIMIT: AgentResult.Status
    NEEDS_HUMAN: AgentResult.Status
    BUDGET: AgentResult.Status
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    status: AgentResult.Status
    answer: str
    data: _struct_pb2.Value
    steps: int
    usage: ModelUsage
    message: str
    def __init__(self, status: _Optional[_Union[AgentResult.Status, str]] = ..., answer: _Optional[str] = ..., data: _Optional[_Union[_struct_pb2.Value, _Mapping]] = ..., steps: _Optional[int] = ..., usage: _Optional[_Union[ModelUsage, _Mapping]] = ..., message: _Optional[str] = ...) -> None: ...

class AgentEvent(_message.Message):
    __slots__ = ("step", "result")
    STEP_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    step: AgentStep
    result: AgentResult
    def __init__(self, step: _Optional[_Union[AgentStep, _Mapping]] = ..., result: _Optional[_Union[AgentResult, _Mapping]] = ...) -> None: ...
