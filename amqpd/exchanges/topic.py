"""Topic exchange: dotted binding keys with `*` (exactly one word) and `#` (zero or more words).

Semantics follow RabbitMQ's trie (rabbit_exchange_type_topic.erl up to 3.12, rabbit_db_topic_exchange.erl
in 3.13): keys are split on every "." and empty words are real words, so "a..b" has three words and ".a"
two; only the empty key has none. `*` and `#` are wildcards only as whole words of a binding key ("a#b"
is a literal word). In a routing key they are ordinary words.
"""

from __future__ import annotations

from .base import Binding, Destination, Exchange, HeadersGetter


def split_key(key: str) -> list[str]:
    # "".split(".") would give [""], one empty word; RabbitMQ gives the empty key no words at all.
    return key.split(".") if key else []


class _Node:
    __slots__ = ("children", "dests")

    def __init__(self) -> None:
        self.children: dict[str, _Node] = {}
        # Binding.key -> destination, for the bindings whose key ends at this node.
        self.dests: dict[tuple, Destination] = {}


class TopicExchange(Exchange):
    type_name = "topic"
    # Routing keys repeat heavily in practice, and a trie walk allocates; memoising the answer per key
    # turns the common publish into one dict lookup. Bounded so unique-per-message keys cannot grow it.
    CACHE_SIZE = 4096

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._root = _Node()
        self._cache: dict[str, tuple[Destination, ...]] = {}

    def _index_add(self, binding: Binding) -> None:
        node = self._root
        for word in split_key(binding.routing_key):
            child = node.children.get(word)
            if child is None:
                child = node.children[word] = _Node()
            node = child
        node.dests[binding.key] = binding.destination
        self._cache.clear()

    def _index_remove(self, binding: Binding) -> None:
        path: list[tuple[_Node, str]] = []
        node = self._root
        for word in split_key(binding.routing_key):
            child = node.children.get(word)
            if child is None:
                return
            path.append((node, word))
            node = child
        node.dests.pop(binding.key, None)
        # Prune the now-empty tail so dead branches don't slow later walks.
        for parent, word in reversed(path):
            child = parent.children[word]
            if child.dests or child.children:
                break
            del parent.children[word]
        self._cache.clear()

    def route(self, routing_key: str, get_headers: HeadersGetter) -> tuple[Destination, ...]:
        hit = self._cache.get(routing_key)
        if hit is not None:
            return hit
        result = self.match(routing_key)
        cache = self._cache
        if len(cache) >= self.CACHE_SIZE:
            # Oldest first (dicts keep insertion order): cheap, and good enough against one-off keys.
            del cache[next(iter(cache))]
        cache[routing_key] = result
        return result

    def match(self, routing_key: str) -> tuple[Destination, ...]:
        """Uncached trie walk; each destination appears once, in first-found order."""
        words = split_key(routing_key)
        n = len(words)
        found: dict[int, Destination] = {}
        # States are (node, words consumed). Several `#` can reach the same state along different paths
        # (think "#.#.#" against a long key); visiting each once keeps the walk O(nodes * words) instead
        # of exponential, and cannot change the answer, which is a set.
        seen: set[tuple[_Node, int]] = set()
        stack: list[tuple[_Node, int]] = [(self._root, 0)]
        while stack:
            state = stack.pop()
            if state in seen:
                continue
            seen.add(state)
            node, i = state
            children = node.children
            if i == n:
                for dest in node.dests.values():
                    found.setdefault(id(dest), dest)
                hash_child = children.get("#")
                if hash_child is not None:
                    stack.append((hash_child, n))
                continue
            if not children:
                continue
            child = children.get(words[i])
            if child is not None:
                stack.append((child, i + 1))
            child = children.get("*")
            if child is not None:
                stack.append((child, i + 1))
            child = children.get("#")
            if child is not None:
                # `#` swallows words i..j-1 for every j, including none.
                for j in range(i, n + 1):
                    stack.append((child, j))
        return tuple(found.values())
