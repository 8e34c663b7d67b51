"""The data plane's S3 cut (through a TCP proxy, the server never stopped): a query that must
read the lake's Parquet files fails with a clear, typed error that names the store — not
DuckDB's words — and answers again once the store is back."""

from __future__ import annotations

from pathlib import Path

import pytest

from auraison.agentops.span_arrow import rows_to_arrow
from auraison.agentops.spool import span_row
from auraison.lakehouse.catalog import Lake, LakeUnavailable
from auraison.lakehouse.sandbox import run_query
from auraison.lakehouse.writer import LakeTraceSink
from auraison.settings import Settings
from tests.tcpproxy import TcpProxy

SQL = "SELECT count(DISTINCT span_id) AS n FROM spans"


def test_a_query_over_a_cut_object_store_fails_clearly_and_works_after(
    tmp_path: Path, pg_dsn: str, s3_server: dict[str, str], s3_bucket
) -> None:
    _, bucket = s3_bucket
    proxy = TcpProxy("127.0.0.1", int(s3_server["endpoint"].rsplit(":", 1)[1])).start()
    s3 = {**s3_server, "endpoint": f"127.0.0.1:{proxy.port}", "bucket": bucket}
    settings = Settings(home=tmp_path, postgres={"dsn": pg_dsn}, s3=s3)
    writer = Lake(settings, catalog="postgres", storage="s3")
    reader = Lake(settings, catalog="postgres", storage="s3")  # another process's: nothing cached
    try:
        rows = [span_row("execute_tool lake_query", {"auraison.tenant": "acme"}) for _ in range(50)]
        LakeTraceSink(writer).write(rows_to_arrow(rows), "outage-1", False)  # above inlining: Parquet
        assert run_query(writer, SQL, "acme")["rows"] == [[50]]

        proxy.stop()
        with pytest.raises(LakeUnavailable) as away:
            run_query(reader, SQL, "acme")
        said = str(away.value)
        assert said.startswith(f"the lake's data files (s3://{bucket}/"), said
        assert f"S3 at 127.0.0.1:{proxy.port}" in said and "queries work again once it is back" in said

        proxy.start()  # the same port
        assert run_query(reader, SQL, "acme")["rows"] == [[50]]
    finally:
        proxy.stop()
        writer.close()
        reader.close()
