"""RabbitMQ's list query parameters, for every list endpoint: ``respond(request, items)``.

As rabbit_mgmt_util (3.10) does, in this order:

- ``columns=a,b.c``: each item keeps only those keys (dotted: descend into nested objects that are
  proplists in RabbitMQ; ``arguments`` and other maps are kept whole); applied
  before sorting, so a sort key that is not among the columns sorts as missing -- except for queues,
  exchanges and vhosts, which RabbitMQ (rabbit_mgmt_util:augment_resources) sorts whole and then cuts
  to the columns. An item left with no key at all is rendered ``[]`` (Erlang's empty proplist), as
  RabbitMQ does;
- ``sort=dotted.key`` (then the default keys, ``vhost`` and ``name``), ``sort_reverse=true``; a missing
  key sorts as 0, and values of different kinds in Erlang's term order (numbers, booleans/null,
  objects, lists, strings). Items equal on those keys are ordered as RabbitMQ's ``lists:sort`` of
  ``{Key, Item}`` leaves them: by the whole item, a proplist in the order of its JSON keys (so two
  bindings of one exchange come in destination order, whatever their routing keys);
- with ``page`` only: ``name`` (case-insensitive substring, or ``use_regex=true``: a case-insensitive
  regular expression search), then the page of ``page_size`` (default 100, at most 500) in the envelope
  {filtered_count, item_count, items, page, page_count, page_size, total_count}. Lists that RabbitMQ
  does not page (``paged=False``: bindings, users, permissions, policies, parameters, consumers, nodes,
  a vhost's connections and channels, a connection's channels) check the page parameters (RabbitMQ
  fails on bad ones with a 500) but answer the whole list.

Bad parameters: ``400 bad_request "Pagination parameters are invalid"`` (not an integer, a bad regex),
``400 invalid_pagination_parameters "Invalid pagination parameters: page number 0, page size undefined"``,
``400 page_out_of_range "Page out of range, page: 4 page size: 10, len: 27"``.

``disable_stats=true`` is accepted; the item builders decide what it drops (``disable_stats(request)``).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from .app import error, json_response

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
DEFAULT_SORT = ("vhost", "name")
# The lists RabbitMQ sorts before keeping the columns (by route).
SORTED_WHOLE = frozenset({"/api/queues", "/api/queues/{vhost}", "/api/exchanges", "/api/exchanges/{vhost}",
                          "/api/vhosts"})
# Keys whose values RabbitMQ renders from maps, which ``columns`` does not descend into.
MAPS = frozenset({"arguments", "metadata"})
_MISSING = object()


class ListingError(Exception):
    def __init__(self, error: str, reason: str) -> None:
        super().__init__(reason)
        self.error = error
        self.reason = reason


def disable_stats(request: web.Request) -> bool:
    return request.query.get("disable_stats") == "true"


# -- columns ------------------------------------------------------------------------------------------
def columns(request: web.Request) -> list[list[str]] | None:
    raw = request.query.get("columns")
    if raw is None:
        return None
    return [[p for p in c.split(".") if p] for c in raw.split(",") if c.strip(".")]


def _descend(key: str, cols: list[list[str]]) -> list[list[str]] | None:
    sub: list[list[str]] = []
    for c in cols:
        if c[0] != key:
            continue
        if len(c) == 1:
            return None  # the whole value
        sub.append(c[1:])
    return sub


def extract(item: Any, cols: list[list[str]] | None, descend: bool = True) -> Any:
    """rabbit_mgmt_util:extract_column_items: keep the wanted keys of objects, through lists. It only
    descends into proplists: the values RabbitMQ holds as maps (``arguments``, a vhost's ``metadata``,
    with ``descend=False`` every nested object) are kept whole."""
    if cols is None:
        return item
    if isinstance(item, dict):
        if not item:
            return item
        wanted = {c[0] for c in cols}
        kept = {k: v if not descend or k in MAPS else extract(v, _descend(k, cols))
                for k, v in item.items() if k in wanted}
        return kept if kept else []
    if isinstance(item, list):
        return [extract(i, cols) for i in item]
    return item


# -- sorting ------------------------------------------------------------------------------------------
def _dotted(item: Any, key: str) -> Any:
    parts = [p for p in key.split(".") if p]
    value = item
    for i, p in enumerate(parts):
        default: Any = 0 if i == len(parts) - 1 else []
        value = value.get(p, default) if isinstance(value, dict) else default
    return value


def _term_key(v: Any) -> tuple[Any, ...]:
    """Erlang's term order: number < atom < tuple < map < list < binary."""
    if isinstance(v, bool) or v is None:
        return (1, "null" if v is None else ("true" if v else "false"))
    if isinstance(v, (int, float)):
        return (0, v)
    if isinstance(v, dict):
        return (3, len(v), tuple((_term_key(k), _term_key(x)) for k, x in sorted(v.items())))
    if isinstance(v, (list, tuple)):
        return (4, tuple(_term_key(x) for x in v))
    return (5, str(v).encode("utf-8"))


def _item_key(item: Any) -> tuple[Any, ...]:
    """An item as RabbitMQ holds it when it sorts: a proplist, [{key, value}] in the JSON's key order."""
    if isinstance(item, dict):
        return (4, tuple((k, _term_key(v)) for k, v in item.items()))
    return _term_key(item)


def sort_items(items: list[Any], sort: str | None, reverse: bool,
               default_sort: Sequence[str] = DEFAULT_SORT) -> list[Any]:
    if sort == "":
        return items  # rabbit_mgmt_util: an explicitly empty sort does not sort
    keys = ([sort] if sort is not None else []) + list(default_sort)
    keyed = sorted(((tuple(_term_key(_dotted(it, k)) for k in keys), it) for it in items), key=lambda p: p[0])
    out: list[Any] = []
    # Only runs of equal keys need the (costlier) whole-item comparison.
    for _, run in itertools.groupby(keyed, key=lambda p: p[0]):
        group = [it for _, it in run]
        if len(group) > 1:
            group.sort(key=_item_key)
        out.extend(group)
    if reverse:
        out.reverse()
    return out


# -- paging -------------------------------------------------------------------------------------------
def _int_param(request: web.Request, name: str) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return None
    if not re.fullmatch(r"[+-]?[0-9]+", raw):
        raise ListingError("bad_request", "Pagination parameters are invalid")
    return int(raw)


def pagination(request: web.Request) -> tuple[int, int] | None:
    page = _int_param(request, "page")
    size = _int_param(request, "page_size")
    if page is None:
        return None
    if size is None and page > 0:
        return page, DEFAULT_PAGE_SIZE
    if size is not None and page > 0 and 0 < size <= MAX_PAGE_SIZE:
        return page, size
    shown = "undefined" if size is None else str(size)
    raise ListingError("invalid_pagination_parameters",
                       f"Invalid pagination parameters: page number {page}, page size {shown}")


def _name_filter(request: web.Request) -> Any:
    name = request.query.get("name")
    if not name:
        return None
    if request.query.get("use_regex") == "true":
        try:
            rx = re.compile(name, re.IGNORECASE)
        except re.error:
            raise ListingError("bad_request", "Pagination parameters are invalid") from None
        return lambda v: isinstance(v, str) and rx.search(v) is not None
    low = name.lower()
    return lambda v: isinstance(v, str) and low in v.lower()


def page_of(items: list[Any], request: web.Request, paging: tuple[int, int]) -> dict[str, Any]:
    page, size = paging
    match = _name_filter(request)
    filtered = [i for i in items if isinstance(i, dict) and match(i.get("name"))] if match else items
    start = (page - 1) * size
    if start > len(filtered):
        raise ListingError("page_out_of_range",
                           f"Page out of range, page: {page} page size: {size}, len: {len(filtered)}")
    chunk = filtered[start:start + size]
    return {"filtered_count": len(filtered), "item_count": len(chunk), "items": chunk, "page": page,
            "page_count": (len(filtered) + size - 1) // size, "page_size": size, "total_count": len(items)}


def error_response(exc: ListingError) -> web.Response:
    return error(400, exc.error, exc.reason)


def listing(request: web.Request, items: Iterable[Any], default_sort: Sequence[str] = DEFAULT_SORT,
            paged: bool = True) -> Any:
    """The JSON document for a list (raises ListingError)."""
    paging = pagination(request)  # validated first, as RabbitMQ does
    cols = columns(request)
    sort, reverse = request.query.get("sort"), request.query.get("sort_reverse") == "true"
    resource = request.match_info.route.resource
    if resource is not None and resource.canonical in SORTED_WHOLE:
        out = [extract(i, cols) for i in sort_items(list(items), sort, reverse, default_sort)]
    else:
        out = sort_items([extract(i, cols) for i in items], sort, reverse, default_sort)
    return page_of(out, request, paging) if paging is not None and paged else out


def respond(request: web.Request, items: Iterable[Any], default_sort: Sequence[str] = DEFAULT_SORT,
            paged: bool = True) -> web.Response:
    """A list endpoint's answer, with RabbitMQ's columns, sort, filter and paging parameters
    (``paged=False``: a list RabbitMQ answers whole whatever ``page`` says)."""
    try:
        return json_response(listing(request, items, default_sort, paged))
    except ListingError as exc:
        return error_response(exc)


def respond_one(request: web.Request, item: dict[str, Any], descend: bool = True) -> web.Response:
    """A single object's answer: ``columns`` applies to it as well (as rabbit_mgmt_util:reply)."""
    return json_response(extract(item, columns(request), descend))
