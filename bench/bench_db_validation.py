"""Database content validation against a plain full read of the same rows (PostgreSQL,
MySQL / MariaDB), and Redis key validation against a plain SCAN + GET of the same keys.

    python bench/bench_db_validation.py [--rows 1000000] [--redis-keys 1000000]
        [--engine postgres|mysql|redis|all] [--repeat 3]

Starts one sandbox PostgreSQL server (Debian's package, as the sandbox does), fills a table
of ``--rows`` rows (id, customer, amount, status, time, text), then times in one run:

- validation: ``runbook_lib.services.rds.data.read_tables`` (count + in-database hash; no
  per-row digests above the per-row limit, as for a large table);
- validation with per-row digests (every row's key and 64-bit digest shipped, the mode for
  tables at most ``KEY_LIMIT`` rows, forced here on every row);
- plain full reads: ``COPY ... TO STDOUT`` streamed, and ``SELECT *`` through a server-side
  cursor.

MySQL (``--engine mysql``): one sandbox MariaDB server (the engine behind the sandbox's
mysql, mariadb and aurora-mysql), the same table, then: validation (count + the sum of
per-row MD5 digests computed in the server, in one consistent read), validation with
per-row digests (forced on every row), and a plain full read: ``SELECT *`` streamed with an
unbuffered cursor (PyMySQL ``SSCursor``), the fastest way a client reads every row out.

Redis (``--engine redis``): one sandbox redis-server filled with ``--redis-keys`` string keys
(60-byte values), then, in ``--repeat`` interleaved rounds (the best time of each is kept,
as other load on the machine only slows a round down):

- the key fingerprint summed in the server (``runbook_lib.services.elasticache.data``, the
  path for caches above ``KEY_LIMIT`` keys: each Lua call runs one SCAN step and returns a
  count and a digest sum, so neither keys nor values leave the server);
- the key fingerprint key by key (client SCAN, per-key type, TTL and value digest computed
  by the Lua script; the path for caches of at most ``KEY_LIMIT`` keys, forced here);
- plain reads: SCAN + pipelined GET of every key (a reader that knows every key is a
  string), and SCAN + TYPE + the type's read command (a reader that does not);

and once, the fingerprint with the digests computed in the client (the fallback where
EVAL is refused).

Prints rows/s and the ratios (validation / full read: above 1.0x means validating is faster
than reading the data out). Measured figures, one run; no assertion.
"""

from __future__ import annotations

import argparse
import time

from runbook_lib.services.elasticache import data as cache_data
from runbook_lib.services.rds import data
from runbook_sandbox.engines import common, mariadb, postgres
from runbook_sandbox.engines import redis as redis_engine

SUMMED = "key fingerprint, summed in the server (Lua SCAN step per call)"
PER_KEY = "key fingerprint, key by key (client SCAN, Lua digests)"
CLIENT = "key fingerprint, digests in the client (EVAL refused)"
PLAIN = "plain read: SCAN + GET (pipelined; knows every key is a string)"
TYPED = "plain read: SCAN + TYPE + the type's read command (pipelined)"


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--redis-keys", type=int, default=1_000_000)
    ap.add_argument("--engine", choices=("postgres", "mysql", "redis", "all"), default="all")
    ap.add_argument("--repeat", type=int, default=3, help="Redis: rounds, best of each")
    args = ap.parse_args()
    if args.engine in ("postgres", "all"):
        bench_postgres(args)
    if args.engine in ("mysql", "all"):
        bench_mysql(args)
    if args.engine in ("redis", "all"):
        bench_redis(args.redis_keys, args.repeat)


def bench_redis(n: int, repeat: int) -> None:
    why = redis_engine.missing_reason()
    if why:
        raise SystemExit(why)
    server = redis_engine.new_server()
    try:
        login = cache_data.Login(host="127.0.0.1", port=server.port)
        with cache_data.connect(login) as cache:

            def fill() -> None:
                for start in range(0, n, 10_000):
                    p = cache.client.pipeline(transaction=False)
                    for i in range(start, min(n, start + 10_000)):
                        p.set(
                            f"order:{i:08d}",
                            f"{i % 5000}|{(i % 100000) / 100:.2f}|paid|{i:040d}"[:60],
                        )
                    p.execute()

            print(f"redis keys: {n:,} (filled in {timed(fill):.1f}s)")
        results: dict[str, float] = {}
        paths: dict[str, str] = {}

        def fingerprint(name: str, key_limit: int, scripts: bool = True) -> float:
            with cache_data.connect(login) as cache:
                cache.scripts = scripts
                keys: list = []

                def run() -> None:
                    keys.append(cache_data.read(cache, key_limit=key_limit))
                    cache_data.fingerprint(keys[0], key_limit=key_limit)

                seconds = timed(run)
                paths[name] = keys[0].path
                assert len(keys[0]) == n, (name, len(keys[0]))
                return seconds

        def scan_read(typed: bool) -> None:
            with cache_data.connect(login) as cache:
                cursor = 0
                while True:
                    cursor, keys = cache.client.scan(cursor=cursor, count=cache_data.BATCH)
                    if keys:
                        p = cache.client.pipeline(transaction=False)
                        if typed:
                            for k in keys:
                                p.type(k)
                            kinds = p.execute()
                            p = cache.client.pipeline(transaction=False)
                            for k, kind in zip(keys, kinds, strict=True):
                                kind = kind if isinstance(kind, str) else kind.decode()
                                cache_data.read_command(p, k, kind)
                        else:
                            for k in keys:
                                p.get(k)
                        p.execute()
                    if int(cursor) == 0:
                        return

        methods = {
            SUMMED: lambda: fingerprint(SUMMED, 0),
            PER_KEY: lambda: fingerprint(PER_KEY, n),
            PLAIN: lambda: timed(lambda: scan_read(False)),
            TYPED: lambda: timed(lambda: scan_read(True)),
        }
        # interleaved rounds, the best of each (the machine's other load only slows a run)
        for _ in range(repeat):
            for name, method in methods.items():
                results[name] = min(results.get(name, float("inf")), method())
        results[CLIENT] = fingerprint(CLIENT, 0, scripts=False)  # slow: one round
        for name, seconds in results.items():
            print(f"{name:62s} {seconds:7.2f}s  {n / seconds:12,.0f} keys/s")
        for name in (SUMMED, PER_KEY, CLIENT):
            print(
                f"ratio {name} [{paths[name]}]: {results[PLAIN] / results[name]:.2f}x vs SCAN + "
                f"GET, {results[TYPED] / results[name]:.2f}x vs SCAN + TYPE + read"
            )
    finally:
        server.stop()
        common.remove_root()


def _server(engine, family: str) -> tuple[object, data.Login]:
    """A started sandbox server of ``engine`` with a master user and database ``bench``,
    and the login to it; exits saying why when the engine's binaries are missing."""
    why = engine.missing_reason()
    if why:
        raise SystemExit(why)
    server = engine.new_server()
    try:
        server.setup_master("bench", "bench-password-1", "bench")
    except BaseException:
        server.stop()
        raise
    login = data.Login(
        host="127.0.0.1",
        port=server.port,
        user="bench",
        password="bench-password-1",
        dbname="bench",
        family=family,
    )
    return server, login


def bench_postgres(args: argparse.Namespace) -> None:
    server, login = _server(postgres, "postgres")
    try:
        with data.connect(login) as db, db.conn.transaction():
            conn = db.conn
            conn.execute(
                "CREATE TABLE orders (id bigint PRIMARY KEY, customer integer, amount numeric(10,2), "
                "status text, placed timestamptz, note text)"
            )
            t = timed(
                lambda: conn.execute(
                    "INSERT INTO orders SELECT g, g %% 5000, (g %% 100000) / 100.0, "
                    "(ARRAY['new','paid','shipped'])[1 + g %% 3], "
                    "timestamptz '2026-01-01Z' + g * interval '1 second', md5(g::text) "
                    "FROM generate_series(1, %s) g",
                    (args.rows,),
                )
            )
        print(f"rows: {args.rows:,} (filled in {t:.1f}s)")
        results: dict[str, float] = {}
        with data.connect(login) as db:
            results["validation (count + in-database hash)"] = timed(lambda: db.read_tables(0))
        with data.connect(login) as db:
            results["validation with per-row digests"] = timed(lambda: db.read_tables(args.rows))

        def copy_out() -> None:
            with data.connect(login) as db, db.conn.cursor() as cur:
                with cur.copy("COPY orders TO STDOUT") as copy:
                    for _ in copy:
                        pass

        def select_all() -> None:
            with data.connect(login) as db, db.conn.transaction():
                with db.conn.cursor(name="all") as cur:
                    cur.itersize = 10_000
                    cur.execute("SELECT * FROM orders")
                    for _ in cur:
                        pass

        results["full read: COPY TO STDOUT"] = timed(copy_out)
        results["full read: SELECT * (server-side cursor)"] = timed(select_all)
        for name, seconds in results.items():
            print(f"{name:45s} {seconds:7.2f}s  {args.rows / seconds:12,.0f} rows/s")
        v = results["validation (count + in-database hash)"]
        vk = results["validation with per-row digests"]
        for name in ("full read: COPY TO STDOUT", "full read: SELECT * (server-side cursor)"):
            r = results[name]
            print(f"ratio vs {name}: validation {r / v:.2f}x, with per-row digests {r / vk:.2f}x")
    finally:
        server.stop()
        postgres.forget()
        common.remove_root()


def bench_mysql(args: argparse.Namespace) -> None:
    server, login = _server(mariadb, "mysql")
    try:
        with data.connect(login) as db:
            db.run(
                [
                    "CREATE TABLE orders (id bigint PRIMARY KEY, customer int, amount "
                    "decimal(10,2), status varchar(16), placed datetime(6), note varchar(64))",
                    "SET SESSION max_recursive_iterations = 1000000",  # MariaDB's CTE limit
                ]
            )
            # rows in chunks of 100,000 from a recursive sequence (MariaDB has seq_ tables
            # only with the Sequence engine loaded)
            t = 0.0
            for start in range(0, args.rows, 100_000):
                stop = min(args.rows, start + 100_000)
                t += timed(
                    lambda start=start, stop=stop: db.run(
                        [
                            "INSERT INTO orders WITH RECURSIVE g(n) AS (SELECT "
                            f"{start + 1} UNION ALL SELECT n + 1 FROM g WHERE n < {stop}) "
                            "SELECT n, n % 5000, (n % 100000) / 100.0, "
                            "ELT(1 + n % 3, 'new', 'paid', 'shipped'), "
                            "TIMESTAMP '2026-01-01 00:00:00' + INTERVAL n SECOND, MD5(n) FROM g"
                        ]
                    )
                )
        print(f"mysql rows: {args.rows:,} (filled in {t:.1f}s)")
        results: dict[str, float] = {}
        with data.connect(login) as db:
            tables: list = []
            results["validation (count + in-database hash)"] = timed(
                lambda: tables.append(db.read_tables(0))
            )
            assert sum(t.count for t in tables[0]) == args.rows, tables
        with data.connect(login) as db:
            results["validation with per-row digests"] = timed(lambda: db.read_tables(args.rows))

        def select_all() -> None:
            import pymysql
            import pymysql.cursors

            conn = pymysql.connect(
                **login.driver_args(10, "database"), cursorclass=pymysql.cursors.SSCursor
            )
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT * FROM orders")
                    for _ in cur:
                        pass
            finally:
                conn.close()

        results["full read: SELECT * (unbuffered cursor)"] = timed(select_all)
        for name, seconds in results.items():
            print(f"{name:45s} {seconds:7.2f}s  {args.rows / seconds:12,.0f} rows/s")
        v = results["validation (count + in-database hash)"]
        vk = results["validation with per-row digests"]
        r = results["full read: SELECT * (unbuffered cursor)"]
        print(
            "ratio vs full read: SELECT * (unbuffered cursor): "
            f"validation {r / v:.2f}x, with per-row digests {r / vk:.2f}x"
        )
    finally:
        server.stop()
        mariadb.forget()
        common.remove_root()


if __name__ == "__main__":
    main()
