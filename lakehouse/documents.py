"""Documents and their embeddings in the lake, and similarity search over them.

Vectors are stored per (document, model) so that a lake can hold embeddings from more than one
embedder; a search compares only vectors of the embedder it uses. Similarity is exact cosine
(``list_cosine_similarity`` over the tenant's vectors) up to ``lake.ann_min_docs`` vectors; past
that, an HNSW index (``vector_index.py``) answers once built.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from .catalog import ALIAS, Lake
from .embeddings import Embedder
from .models import Document, Hit
from .vector_index import INDEXES
from .writer import append


def doc_id_for(tenant: str, doc: Document) -> str:
    return (
        doc.doc_id or "doc_" + hashlib.sha256(f"{tenant}\0{doc.source}\0{doc.text}".encode()).hexdigest()[:24]
    )


def add_documents(lake: Lake, embedder: Embedder, tenant: str, docs: list[Document]) -> dict[str, Any]:
    """Store documents and their vectors (idempotent: a document already there is skipped)."""
    ids = [doc_id_for(tenant, d) for d in docs]
    vectors = embedder.embed([d.text for d in docs]) if docs else []
    added = append(
        lake,
        "documents",
        [
            {"doc_id": i, "tenant": tenant, "source": d.source, "text": d.text, "metadata": d.metadata}
            for i, d in zip(ids, docs, strict=True)
        ],
    )
    embedded = append(
        lake,
        "embeddings",
        [
            {"doc_id": i, "model": embedder.model, "dim": len(v), "vector": v.tolist(), "tenant": tenant}
            for i, v in zip(ids, vectors, strict=True)
        ],
    )
    return {"documents": added, "embeddings": embedded, "doc_ids": ids, "embedder": embedder.description}


def search(
    lake: Lake,
    embedder: Embedder,
    tenant: str,
    query: str,
    k: int = 5,
    method: Literal["auto", "exact", "hnsw"] = "auto",
) -> dict[str, Any]:
    """The ``k`` documents of ``tenant`` nearest to ``query`` by cosine similarity. ``auto``: the
    HNSW index once it is built for a tenant past ``lake.ann_min_docs`` vectors (see
    ``vector_index``), else exact; the answer says which answered."""
    vector = embedder.embed([query])[0]
    found = None
    if method != "exact":
        found = INDEXES.nearest(lake, tenant, embedder.model, vector, k, wait=method == "hnsw")
    if found is None:
        rows = exact(lake, tenant, embedder.model, vector.tolist(), k)
        used = "exact"
    else:
        rows = _documents(lake, tenant, found)
        used = "hnsw"
    hits = [
        Hit(doc_id=r[0], score=float(r[1]), source=r[2] or "", text=r[3], metadata=json.loads(r[4] or "{}"))
        for r in rows
    ]
    return {"hits": [h.model_dump() for h in hits], "embedder": embedder.description, "method": used}


def exact(lake: Lake, tenant: str, model: str, vector: list[float], k: int) -> list[tuple]:
    """Exact cosine over every vector of the tenant and model, joined with the documents."""
    return lake.transact(
        lambda con: con.execute(
            "SELECT d.doc_id, list_cosine_similarity(e.vector, ?::FLOAT[]) AS score, d.source, d.text, "
            f"d.metadata FROM {ALIAS}.embeddings e "
            f"JOIN {ALIAS}.documents d ON d.doc_id = e.doc_id AND d.tenant = e.tenant "
            "WHERE e.tenant = ? AND e.model = ? ORDER BY score DESC LIMIT ?",
            [vector, tenant, model, k],
        ).fetchall()
    )


def _documents(lake: Lake, tenant: str, found: list[tuple[str, float]]) -> list[tuple]:
    """The documents of the index's hits, in the index's order, with its scores."""
    if not found:
        return []
    ids = [doc_id for doc_id, _ in found]
    rows = lake.transact(
        lambda con: con.execute(
            f"SELECT doc_id, source, text, metadata FROM {ALIAS}.documents "
            f"WHERE tenant = ? AND doc_id IN ({', '.join('?' * len(ids))})",
            [tenant, *ids],
        ).fetchall()
    )
    by_id = {r[0]: r for r in rows}
    return [(d, score, *by_id[d][1:]) for d, score in found if d in by_id]
