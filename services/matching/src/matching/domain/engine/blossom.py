"""Maximum-weight matching in a general graph: Edmonds' blossom algorithm, O(n^3).

The primal-dual method as laid out by Galil ("Efficient algorithms for finding maximum
matching in graphs", 1986): grow alternating trees from every free vertex, shrink odd
cycles (blossoms) into pseudo-vertices, adjust the duals by the smallest slack, and
augment when two trees touch through a tight edge. Weights are integers, so every dual
stays an integer (duals are kept doubled) and the result is exactly optimal.

Vertex duals live in ``dual[0:n]``, blossom duals in ``dual[n:2n]``; blossom ids are
``n..2n-1``. An edge k has two endpoints ``2k`` and ``2k + 1``; ``endpoint[p]`` is the
vertex at endpoint p, and ``p ^ 1`` is the other end. ``mate[v]`` is the remote endpoint
of v's matched edge. Labels: 0 free, 1 S (outer), 2 T (inner); bit 4 marks a blossom
already seen while scanning for a common base.
"""

from __future__ import annotations

from collections.abc import Iterator

_FREE, _OUTER, _INNER, _SEEN = 0, 1, 2, 4
_NONE = -1
# Why a dual adjustment stopped (see `_Matcher._smallest_step`).
_OPTIMAL, _TIGHT_TO_FREE, _TIGHT_BETWEEN_OUTER, _EXPAND = 1, 2, 3, 4


class _Matcher:
    def __init__(self, vertices: int, edges: list[tuple[int, int, int]]) -> None:
        n = vertices
        self.n = n
        self.edges = edges
        self.endpoint = [edges[p // 2][p % 2] for p in range(2 * len(edges))]
        self.neighbours: list[list[int]] = [[] for _ in range(n)]
        for k, (i, j, _) in enumerate(edges):
            self.neighbours[i].append(2 * k + 1)
            self.neighbours[j].append(2 * k)
        self.mate = [_NONE] * n
        self.label = [_FREE] * (2 * n)
        self.label_end = [_NONE] * (2 * n)
        self.in_blossom = list(range(n))
        self.parent = [_NONE] * (2 * n)
        self.children: list[list[int]] = [[] for _ in range(2 * n)]
        self.base = list(range(n)) + [_NONE] * n
        self.endps: list[list[int]] = [[] for _ in range(2 * n)]
        self.best_edge = [_NONE] * (2 * n)
        self.blossom_best_edges: list[list[int] | None] = [None] * (2 * n)
        self.unused = list(range(n, 2 * n))
        top = max([0] + [w for _, _, w in edges])
        self.dual = [top] * n + [0] * n
        self.allowed = [False] * len(edges)
        self.queue: list[int] = []

    def slack(self, k: int) -> int:
        i, j, w = self.edges[k]
        return self.dual[i] + self.dual[j] - 2 * w

    def leaves(self, b: int) -> Iterator[int]:
        """The vertices inside b, depth first (iterative: blossoms can nest deeply)."""
        stack = [b]
        while stack:
            top = stack.pop()
            if top < self.n:
                yield top
            else:
                stack.extend(reversed(self.children[top]))

    def assign_label(self, w: int, t: int, p: int) -> None:
        b = self.in_blossom[w]
        self.label[w] = self.label[b] = t
        self.label_end[w] = self.label_end[b] = p
        self.best_edge[w] = self.best_edge[b] = _NONE
        if t == _OUTER:
            self.queue.extend(self.leaves(b))
        else:
            # The base of an inner blossom is matched: its mate becomes outer.
            base = self.base[b]
            self.assign_label(self.endpoint[self.mate[base]], _OUTER, self.mate[base] ^ 1)

    def scan_blossom(self, v: int, w: int) -> int:
        """Trace back from v and w; the first common blossom base, or -1 (augment)."""
        path: list[int] = []
        base = _NONE
        while v != _NONE or w != _NONE:
            b = self.in_blossom[v]
            if self.label[b] & _SEEN:
                base = self.base[b]
                break
            path.append(b)
            self.label[b] = _OUTER | _SEEN
            if self.label_end[b] == _NONE:
                v = _NONE
            else:
                v = self.endpoint[self.label_end[b]]
                v = self.endpoint[self.label_end[self.in_blossom[v]]]
            if w != _NONE:
                v, w = w, v
        for b in path:
            self.label[b] = _OUTER
        return base

    def add_blossom(self, base: int, k: int) -> None:
        v, w, _ = self.edges[k]
        bb, bv, bw = self.in_blossom[base], self.in_blossom[v], self.in_blossom[w]
        b = self.unused.pop()
        self.base[b] = base
        self.parent[b] = _NONE
        self.parent[bb] = b
        path: list[int] = []
        endps: list[int] = []
        while bv != bb:
            self.parent[bv] = b
            path.append(bv)
            endps.append(self.label_end[bv])
            bv = self.in_blossom[self.endpoint[self.label_end[bv]]]
        path.append(bb)
        path.reverse()
        endps.reverse()
        endps.append(2 * k)
        while bw != bb:
            self.parent[bw] = b
            path.append(bw)
            endps.append(self.label_end[bw] ^ 1)
            bw = self.in_blossom[self.endpoint[self.label_end[bw]]]
        self.children[b], self.endps[b] = path, endps
        self.label[b] = _OUTER
        self.label_end[b] = self.label_end[bb]
        self.dual[b] = 0
        for leaf in self.leaves(b):
            if self.label[self.in_blossom[leaf]] == _INNER:
                self.queue.append(leaf)  # inner vertices turn outer inside the blossom
            self.in_blossom[leaf] = b
        self._merge_best_edges(b, path)

    def _merge_best_edges(self, b: int, path: list[int]) -> None:
        """The least-slack edge from the new blossom to each other outer blossom."""
        best_to = [_NONE] * (2 * self.n)
        for child in path:
            known = self.blossom_best_edges[child]
            lists = (
                [[p // 2 for p in self.neighbours[leaf]] for leaf in self.leaves(child)]
                if known is None
                else [known]
            )
            for edges in lists:
                for k in edges:
                    i, j, _ = self.edges[k]
                    if self.in_blossom[j] == b:
                        i, j = j, i
                    bj = self.in_blossom[j]
                    if (
                        bj != b
                        and self.label[bj] == _OUTER
                        and (best_to[bj] == _NONE or self.slack(k) < self.slack(best_to[bj]))
                    ):
                        best_to[bj] = k
            self.blossom_best_edges[child] = None
            self.best_edge[child] = _NONE
        merged = [k for k in best_to if k != _NONE]
        self.blossom_best_edges[b] = merged
        self.best_edge[b] = _NONE
        for k in merged:
            if self.best_edge[b] == _NONE or self.slack(k) < self.slack(self.best_edge[b]):
                self.best_edge[b] = k

    def expand_blossom(self, b: int, *, end_of_stage: bool) -> None:
        for child in self.children[b]:
            self.parent[child] = _NONE
            if child < self.n:
                self.in_blossom[child] = child
            elif end_of_stage and self.dual[child] == 0:
                self.expand_blossom(child, end_of_stage=end_of_stage)
            else:
                for leaf in self.leaves(child):
                    self.in_blossom[leaf] = child
        if not end_of_stage and self.label[b] == _INNER:
            self._relabel_expanded(b)
        self.label[b] = self.label_end[b] = _NONE
        self.children[b], self.endps[b] = [], []
        self.base[b] = _NONE
        self.blossom_best_edges[b] = None
        self.best_edge[b] = _NONE
        self.unused.append(b)

    def _relabel_expanded(self, b: int) -> None:
        """An inner blossom was expanded mid-stage: relabel the path through it."""
        children, endps = self.children[b], self.endps[b]
        entry = self.in_blossom[self.endpoint[self.label_end[b] ^ 1]]
        j = children.index(entry)
        if j & 1:
            j -= len(children)
            step, trick = 1, 0
        else:
            step, trick = -1, 1
        p = self.label_end[b]
        while j != 0:
            self.label[self.endpoint[p ^ 1]] = _FREE
            self.label[self.endpoint[endps[j - trick] ^ trick ^ 1]] = _FREE
            self.assign_label(self.endpoint[p ^ 1], _INNER, p)
            self.allowed[endps[j - trick] // 2] = True
            j += step
            p = endps[j - trick] ^ trick
            self.allowed[p // 2] = True
            j += step
        child = children[j]
        self.label[self.endpoint[p ^ 1]] = self.label[child] = _INNER
        self.label_end[self.endpoint[p ^ 1]] = self.label_end[child] = p
        self.best_edge[child] = _NONE
        j += step
        while children[j] != entry:
            child = children[j]
            if self.label[child] == _OUTER:
                j += step
                continue
            labelled = next((v for v in self.leaves(child) if self.label[v] != _FREE), _NONE)
            if labelled != _NONE:
                self.label[labelled] = _FREE
                self.label[self.endpoint[self.mate[self.base[child]]]] = _FREE
                self.assign_label(labelled, _INNER, self.label_end[labelled])
            j += step

    def augment_blossom(self, b: int, v: int) -> None:
        """Swap matched and unmatched edges inside b so that v becomes its base."""
        t = v
        while self.parent[t] != b:
            t = self.parent[t]
        if t >= self.n:
            self.augment_blossom(t, v)
        children, endps = self.children[b], self.endps[b]
        i = j = children.index(t)
        if i & 1:
            j -= len(children)
            step, trick = 1, 0
        else:
            step, trick = -1, 1
        while j != 0:
            j += step
            t = children[j]
            p = endps[j - trick] ^ trick
            if t >= self.n:
                self.augment_blossom(t, self.endpoint[p])
            j += step
            t = children[j]
            if t >= self.n:
                self.augment_blossom(t, self.endpoint[p ^ 1])
            self.mate[self.endpoint[p]] = p ^ 1
            self.mate[self.endpoint[p ^ 1]] = p
        self.children[b] = children[i:] + children[:i]
        self.endps[b] = endps[i:] + endps[:i]
        self.base[b] = self.base[self.children[b][0]]

    def augment_matching(self, k: int) -> None:
        """Flip the augmenting path through edge k, walking back to both tree roots."""
        v, w, _ = self.edges[k]
        self._flip_to_root(v, 2 * k + 1)
        self._flip_to_root(w, 2 * k)

    def _flip_to_root(self, start: int, endpoint: int) -> None:
        s, p = start, endpoint
        while True:
            bs = self.in_blossom[s]
            if bs >= self.n:
                self.augment_blossom(bs, s)
            self.mate[s] = p
            if self.label_end[bs] == _NONE:
                return
            bt = self.in_blossom[self.endpoint[self.label_end[bs]]]
            s = self.endpoint[self.label_end[bt]]
            j = self.endpoint[self.label_end[bt] ^ 1]
            if bt >= self.n:
                self.augment_blossom(bt, j)
            self.mate[j] = self.label_end[bt]
            p = self.label_end[bt] ^ 1

    def scan(self) -> bool:
        """Grow the trees from the queue; True once an augmentation happened."""
        while self.queue:
            v = self.queue.pop()
            for p in self.neighbours[v]:
                if self._examine(v, p):
                    return True
        return False

    def _examine(self, v: int, p: int) -> bool:
        """Look at the edge from outer vertex v to endpoint p; True if it augmented."""
        k, w = p // 2, self.endpoint[p]
        if self.in_blossom[v] == self.in_blossom[w]:
            return False
        slack = 0
        if not self.allowed[k]:
            slack = self.slack(k)
            self.allowed[k] = slack <= 0
        far = self.label[self.in_blossom[w]]
        if not self.allowed[k]:
            self._remember_least_slack(v, w, k, slack)
        elif far == _FREE:
            self.assign_label(w, _INNER, p ^ 1)
        elif far == _OUTER:
            base = self.scan_blossom(v, w)
            if base == _NONE:
                self.augment_matching(k)
                return True
            self.add_blossom(base, k)
        elif self.label[w] == _FREE:
            self.label[w] = _INNER
            self.label_end[w] = p ^ 1
        return False

    def _remember_least_slack(self, v: int, w: int, k: int, slack: int) -> None:
        if self.label[self.in_blossom[w]] == _OUTER:
            b = self.in_blossom[v]
            if self.best_edge[b] == _NONE or slack < self.slack(self.best_edge[b]):
                self.best_edge[b] = k
        elif self.label[w] == _FREE and (
            self.best_edge[w] == _NONE or slack < self.slack(self.best_edge[w])
        ):
            self.best_edge[w] = k

    def _smallest_step(self) -> tuple[int, int, int]:
        """(kind, delta, edge or blossom) of the largest dual change that stays feasible.

        A free vertex's dual reaches zero (optimal); an edge from an outer vertex to a
        free one, or between two outer blossoms, becomes tight; or an inner blossom's
        dual reaches zero and it must be expanded.
        """
        n = self.n
        kind, delta, what = _OPTIMAL, min(self.dual[:n]), _NONE
        for v in range(n):
            if self.label[self.in_blossom[v]] == _FREE and self.best_edge[v] != _NONE:
                d = self.slack(self.best_edge[v])
                if d < delta:
                    kind, delta, what = _TIGHT_TO_FREE, d, self.best_edge[v]
        for b in range(2 * n):
            if self.parent[b] == _NONE and self.label[b] == _OUTER and self.best_edge[b] != _NONE:
                d = self.slack(self.best_edge[b]) // 2  # even: both ends are outer
                if d < delta:
                    kind, delta, what = _TIGHT_BETWEEN_OUTER, d, self.best_edge[b]
        for b in range(n, 2 * n):
            if (
                self.base[b] >= 0
                and self.parent[b] == _NONE
                and self.label[b] == _INNER
                and self.dual[b] < delta
            ):
                kind, delta, what = _EXPAND, self.dual[b], b
        return kind, delta, what

    def adjust_duals(self) -> bool:
        """Change the duals by the largest safe step; False when the optimum is reached."""
        n = self.n
        kind, delta, what = self._smallest_step()
        for v in range(n):
            label = self.label[self.in_blossom[v]]
            if label == _OUTER:
                self.dual[v] -= delta
            elif label == _INNER:
                self.dual[v] += delta
        for b in range(n, 2 * n):
            if self.base[b] >= 0 and self.parent[b] == _NONE:
                if self.label[b] == _OUTER:
                    self.dual[b] += delta
                elif self.label[b] == _INNER:
                    self.dual[b] -= delta
        if kind == _OPTIMAL:
            return False  # a free vertex's dual reached zero: no augmentation pays
        if kind == _EXPAND:
            self.expand_blossom(what, end_of_stage=False)
            return True
        self.allowed[what] = True
        i, j, _ = self.edges[what]
        self.queue.append(j if self.label[self.in_blossom[i]] == _FREE else i)
        return True

    def stage(self) -> bool:
        """One augmentation (True) or proof that none improves the weight (False)."""
        n = self.n
        self.label = [_FREE] * (2 * n)
        self.best_edge = [_NONE] * (2 * n)
        self.blossom_best_edges[n:] = [None] * n
        self.allowed = [False] * len(self.edges)
        self.queue = []
        for v in range(n):
            if self.mate[v] == _NONE and self.label[self.in_blossom[v]] == _FREE:
                self.assign_label(v, _OUTER, _NONE)
        while True:
            if self.scan():
                break
            if not self.adjust_duals():
                return False
        for b in range(n, 2 * n):
            if (
                self.parent[b] == _NONE
                and self.base[b] >= 0
                and self.label[b] == _OUTER
                and self.dual[b] == 0
            ):
                self.expand_blossom(b, end_of_stage=True)
        return True

    def solve(self) -> tuple[list[int], list[int]]:
        for _ in range(self.n):
            if not self.stage():
                break
        return [self.endpoint[p] if p >= 0 else _NONE for p in self.mate], self.dual[: self.n]


def max_weight_matching(
    vertices: int, edges: list[tuple[int, int, int]]
) -> tuple[list[int], list[int]]:
    """Partner of each vertex (-1: unmatched) in a maximum-weight matching, and duals.

    `edges` are ``(i, j, weight)`` with integer weights and ``i != j``; only positive
    weights can ever be worth taking. The same input always gives the same matching.
    The vertex duals y (doubled) are non-negative and, with the blossom duals, cover
    every edge; an edge outside `edges` with ``y[i] + y[j] >= 2 * weight`` is covered
    by them alone, so adding it could not improve the matching.
    """
    if not edges:
        return [_NONE] * vertices, [0] * vertices
    return _Matcher(vertices, edges).solve()
