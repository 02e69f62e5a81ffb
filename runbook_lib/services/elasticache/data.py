"""The data inside ElastiCache Redis / Valkey caches: reaching it, fingerprinting its keys,
and canary keys. Driver: redis-py.

Reaching the data
    The endpoint is the replication group's primary endpoint (a standalone cluster's cache
    node). A cache with an AUTH token (``AuthTokenEnabled``) is logged in to with the token
    held in the Secrets Manager secret named by the tag ``tag_keys.db_secret`` on the cache
    (JSON with ``auth_token`` or ``password``, or the token as plain text); never from params.
    A scratch copy is created with a fresh random AUTH token held in memory only. TLS is used
    where in-transit encryption is on (redis-py ``ssl=True``, the certificate checked against
    the system's CAs; not on the sandbox, whose servers speak plain TCP).
    Every connection has a connect time-out: an endpoint that does not answer gives
    :class:`NotReachable` (``NOT_REACHABLE: ...``), never a hang.

Fingerprint (kind ``redis-keys-2``)
    Every key of every logical database, listed by ``SCAN``; per key its type, whether it has
    a TTL, and a digest of its value computed per type inside the server by a Lua script
    (``EVALSHA``; ``redis.sha1hex``), so values are not shipped to the client: a string's
    SHA-1; a list's or sorted set's (with scores, in Redis's own order) or stream's SHA-1 of
    the length-prefixed elements in order; a set's or hash's SHA-1 of the sorted SHA-1s of its
    members (field-value pairs), so the internal order does not matter. A key's record is
    ``<length>:<key bytes><type> <TTL 0|1> <value digest>``; its digest is the first 128 bits
    of the record's SHA-1, and the fingerprint is the count and the sum of the record digests
    modulo 2**128 (:class:`runbook_lib.fingerprint.Fingerprint`'s shape, so the order of the
    scan does not matter).

    Two paths give the same fingerprint. A cache of at most ``key_limit`` keys is read key by
    key (``SCAN`` in the client, the script digests each page's values), keeping per-key
    digests so a difference names the first keys that differ. A larger cache is summed in
    the server: each script call runs one ``SCAN`` step (``COUNT`` ``BATCH``) and answers only
    the cursor, the count and the digest sum, so neither keys nor values leave the server; a
    key space that changed size during that scan (a key may then be counted twice) is read
    key by key instead. Where scripts are refused (an ACL without EVAL/EVALSHA, a renamed
    command), the same digests are computed in the client from the values (slower, same
    result); :attr:`KeyScan.path` and ``Cache.scripts`` say which path ran. Each script call
    is bounded by one batch of keys (while a script runs, Redis answers BUSY to other
    clients); a single very large key is digested in one call. EVAL, EVALSHA, SCRIPT and
    ``redis.sha1hex`` exist in every Redis OSS (2.6 and later) and Valkey version ElastiCache
    runs (Redis OSS 4.0.10 to 7.1, Valkey 7.2 and 8); FUNCTION (Redis 7) is not used.
    ``SCAN`` is not one consistent read: backup_now fingerprints again once the snapshot
    completed, and when the two differ the restore is checked within their bounds.

Canary keys
    One string key ``__restore_canary__#<time>`` per backup (no TTL); the newest one found in
    a restored copy is its measured freshness.
"""

from __future__ import annotations

import hashlib
import json
import queue
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from runbook_lib.errors import RunbookError
from runbook_lib.fingerprint import Fingerprint
from runbook_lib.restore.canary import DYNAMODB_PREFIX, canary_time, stamp

KIND = "redis-keys-2"  # "redis-keys" (blake2b record digests) until the digests were summed in the server
_MOD = 1 << 128
ENGINES = ("redis", "valkey")
CANARY_PREFIX = DYNAMODB_PREFIX  # the same key form: __restore_canary__#<time>
KEY_LIMIT = 200_000  # per-key digests are kept for caches of at most this many keys
CONNECT_TIMEOUT = 10  # seconds
READ_TIMEOUT = 120  # seconds, per command (a batch of keys)
BATCH = 1000  # keys per SCAN page and per script call


class NotReachable(RunbookError):
    """The cache endpoint did not answer (network path, security group, or down)."""


class NoLogin(RunbookError):
    """The cache needs an AUTH token and nothing says where to find it, or it was refused."""


@dataclass(kw_only=True)
class Login:
    """Where and how to connect. The token is never printed (not in ``repr``)."""

    host: str
    port: int
    password: str | None = field(default=None, repr=False)
    ssl: bool = False


# --------------------------------------------------------------------------- logins


def endpoint(desc: dict[str, Any]) -> tuple[str, int] | None:
    """(host, port) of a replication group (its primary endpoint) or cache cluster (its first
    node; ``describe_cache_clusters(ShowCacheNodeInfo=True)``), or None (cluster mode)."""
    for group in desc.get("NodeGroups") or []:
        ep = group.get("PrimaryEndpoint")
        if ep and ep.get("Address"):
            return ep["Address"], int(ep["Port"])
    for node in desc.get("CacheNodes") or []:
        ep = node.get("Endpoint")
        if ep and ep.get("Address"):
            return ep["Address"], int(ep["Port"])
    return None


def readable(session: Any, desc: dict[str, Any]) -> bool:
    """Whether the runbooks read this cache's keys: a Redis or Valkey engine, cluster mode
    disabled (one primary holds every key), an endpoint, and, on the sandbox, a real server
    behind it (without redis-server the sandbox's ElastiCache is metadata only and its
    endpoint a made-up name)."""
    if (desc.get("Engine") or "redis") not in ENGINES:
        return False
    if desc.get("ClusterEnabled") or desc.get("ClusterMode") == "enabled":
        return False
    ep = endpoint(desc)
    if ep is None:
        return False
    return not session.sandbox or ep[0] in ("127.0.0.1", "localhost")


def _token_from_secret(session: Any, account: str, region: str, secret_id: str) -> str:
    sm = session.client("secretsmanager", account, region)
    raw = sm.get_secret_value(SecretId=secret_id)["SecretString"]
    try:
        value = json.loads(raw)
    except ValueError:
        return raw.strip()
    if isinstance(value, dict):
        token = value.get("auth_token") or value.get("password")
        if token:
            return str(token)
    raise NoLogin(
        f"secret {secret_id!r} holds no AUTH token: expected JSON with 'auth_token' (or "
        "'password'), or the token as plain text"
    )


def source_login(
    session: Any, account: str, region: str, desc: dict, tags: dict[str, str], tag_key: str
) -> Login:
    """The login of a source cache: its endpoint, and its AUTH token (when it has one) from
    the secret its ``tag_key`` tag names."""
    host, port = endpoint(desc) or ("", 0)
    token = None
    if desc.get("AuthTokenEnabled"):
        secret_id = tags.get(tag_key)
        if not secret_id:
            name = desc.get("ReplicationGroupId") or desc.get("CacheClusterId")
            raise NoLogin(
                f"{name}: AUTH token enabled and no {tag_key!r} tag naming the Secrets Manager "
                "secret that holds it; tag the cache with the secret's name"
            )
        token = _token_from_secret(session, account, region, secret_id)
    return Login(host=host, port=port, password=token, ssl=_tls(session, desc))


def _tls(session: Any, desc: dict[str, Any]) -> bool:
    return bool(desc.get("TransitEncryptionEnabled")) and not session.sandbox


def new_token() -> str:
    """A fresh AUTH token (16 to 128 printable characters, no @, " or /: letters and digits)."""
    return secrets.token_urlsafe(32).replace("-", "a").replace("_", "b")


def scratch_login(session: Any, desc: dict[str, Any], token: str | None) -> Login:
    host, port = endpoint(desc) or ("", 0)
    return Login(host=host, port=port, password=token, ssl=_tls(session, desc))


# --------------------------------------------------------------------------- connections


@contextmanager
def connect(login: Login, timeout: int = CONNECT_TIMEOUT, db: int = 0) -> Iterator[Cache]:
    """A connection to ``login``'s cache (logical database ``db``): :class:`NotReachable`
    when the endpoint does not answer within ``timeout`` seconds, :class:`NoLogin` when the
    AUTH token is refused."""
    import redis

    client = redis.Redis(
        host=login.host, port=login.port, db=db, password=login.password, ssl=login.ssl,
        socket_connect_timeout=timeout, socket_timeout=READ_TIMEOUT, protocol=2,
    )  # fmt: skip
    try:
        client.ping()
    except redis.AuthenticationError:
        client.close()
        raise NoLogin(
            f"{login.host}:{login.port}: the AUTH token was refused (or one is needed): check "
            "the secret named by the cache's tag"
        ) from None
    except (redis.ConnectionError, redis.TimeoutError, OSError) as err:
        client.close()
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        if login.password:
            text = text.replace(login.password, "***")
        raise NotReachable(
            f"NOT_REACHABLE: no connection to cache {login.host}:{login.port} (connect time-out "
            f"{timeout}s): {text}. Run the runbook where the endpoint is reachable (same VPC, a "
            "peered VPC or a VPN) with a security group that admits the cache port"
        ) from None
    try:
        yield Cache(client=client, login=login, timeout=timeout)
    finally:
        client.close()


# The digests, computed in the server (see the module's doc). ``_VALUE`` digests one key's
# value by type; ``_PER_KEY`` answers (type, TTL present, value digest) for the keys it is
# given, one line per key in one reply (one bulk string parses far faster than an array of
# arrays); ``_SUMMED`` runs one SCAN step itself and answers the cursor, the number of keys and
# the sum of their record digests in four 32-bit limbs (exact in Lua's doubles up to 2**21
# keys per call), so neither values nor keys leave the server; canary keys come back one by
# one, outside the sums. Each call is bounded by one batch of keys (Redis answers BUSY to
# other clients while a script runs).
_VALUE = """
local call, sha = redis.call, redis.sha1hex
local function enc(t)
  local parts = {}
  for i = 1, #t do local s = t[i]; parts[i] = #s .. ':' .. s end
  return table.concat(parts)
end
local function members(t, step)
  local d = {}
  for i = 1, #t, step do
    if step == 1 then d[#d + 1] = sha(t[i])
    else d[#d + 1] = sha(enc({t[i], t[i + 1]})) end
  end
  table.sort(d)
  return sha(table.concat(d, ','))
end
local function info(k)
  local t = call('TYPE', k)['ok']
  local v = ''
  if t == 'string' then v = sha(call('GET', k))
  elseif t == 'list' then v = sha(enc(call('LRANGE', k, 0, -1)))
  elseif t == 'set' then v = members(call('SMEMBERS', k), 1)
  elseif t == 'hash' then v = members(call('HGETALL', k), 2)
  elseif t == 'zset' then v = sha(enc(call('ZRANGE', k, 0, -1, 'WITHSCORES')))
  elseif t == 'stream' then
    local flat = {}
    for _, e in ipairs(call('XRANGE', k, '-', '+')) do
      flat[#flat + 1] = e[1]
      flat[#flat + 1] = tostring(#e[2])
      for _, x in ipairs(e[2]) do flat[#flat + 1] = x end
    end
    v = sha(enc(flat))
  elseif t ~= 'none' then v = 'type:' .. t end
  local ttl = '0'
  if call('PTTL', k) > 0 then ttl = '1' end
  return t, ttl, v
end
"""
_PER_KEY = (
    _VALUE
    + """
local out = {}
for i, k in ipairs(KEYS) do
  local t, ttl, v = info(k)
  out[i] = t .. ' ' .. ttl .. ' ' .. v
end
return table.concat(out, '\\n')
"""
)
# ARGV: cursor, COUNT, the key's prefix in records ("db3/" outside database 0), the canary
# prefix ("" where there are no canaries)
_SUMMED = (
    _VALUE
    + """
local tonum, sub = tonumber, string.sub
local page = call('SCAN', ARGV[1], 'COUNT', ARGV[2])
local prefix, canary = ARGV[3], ARGV[4]
local a, b, c, d, n = 0, 0, 0, 0, 0
local out = {page[1], 0, 0, 0, 0, 0}
for _, k in ipairs(page[2]) do
  local t, ttl, v = info(k)
  if t ~= 'none' then
    if canary ~= '' and sub(k, 1, #canary) == canary then
      out[#out + 1] = k
      out[#out + 1] = t .. ' ' .. ttl .. ' ' .. v
    else
      local full = prefix .. k
      local h = sha(#full .. ':' .. full .. t .. ' ' .. ttl .. ' ' .. v)
      a = a + tonum(sub(h, 1, 8), 16)
      b = b + tonum(sub(h, 9, 16), 16)
      c = c + tonum(sub(h, 17, 24), 16)
      d = d + tonum(sub(h, 25, 32), 16)
      n = n + 1
    end
  end
end
out[2], out[3], out[4], out[5], out[6] = n, a, b, c, d
return out
"""
)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


def _enc(items: list[bytes]) -> bytes:
    return b"".join(str(len(x)).encode() + b":" + x for x in items)


def _members(items: list[bytes], step: int) -> str:
    if step == 1:
        d = sorted(_sha1(x) for x in items)
    else:
        d = sorted(_sha1(_enc([items[i], items[i + 1]])) for i in range(0, len(items), 2))
    return _sha1(",".join(d).encode())


@dataclass(kw_only=True, slots=True)
class KeyInfo:
    key: str  # the key as text (``db<N>/`` before it outside database 0)
    type: str
    ttl: bool
    digest: str
    raw: bytes | None = None  # the key's bytes (with its ``db<N>/``); None: ``key`` in UTF-8

    @property
    def is_canary(self) -> bool:
        return self.key.startswith(CANARY_PREFIX)


@dataclass(kw_only=True)
class KeyScan:
    """What :func:`read` found: ``keys``, the keys read one by one (every key, or only the
    canary keys when the rest were summed in the server), plus ``summed`` keys whose record
    digests the server added up (``summed_digest``). ``len()`` is the number of keys."""

    keys: list[KeyInfo] = field(default_factory=list)
    summed: int = 0
    summed_digest: int = 0
    path: str = "per-key"  # "summed in the server", "per-key" (Lua) or "client"
    key_limit: int = KEY_LIMIT  # per-key digests are kept for at most this many keys

    def __len__(self) -> int:
        return len(self.keys) + self.summed

    def __iter__(self) -> Iterator[KeyInfo]:
        return iter(self.keys)

    @property
    def named(self) -> bool:
        """Whether a difference can name keys: per-key digests are kept (nothing was
        summed in the server and there are at most ``key_limit`` keys)."""
        return not self.summed and len(self.keys) <= self.key_limit

    @property
    def detail(self) -> str:
        """How the keys were read (which path ran) and whether a difference can name keys,
        for a verdict's detail."""
        how = {
            "summed in the server": "digested and summed in the server (Lua, one SCAN step "
            "per call)",
            "per-key": "digested in the server (Lua), key by key",
        }.get(self.path, "digested in the client (EVAL refused), key by key")
        if self.named:
            names = "a difference names the keys"
        else:
            names = (
                f"more than {self.key_limit:,} keys, no per-key digests: a difference cannot "
                "name the keys"
            )
        return f"{len(self)} keys scanned, values {how}; {names}"


@dataclass(kw_only=True)
class Cache:
    """An open connection (redis-py client) to one cache."""

    client: Any
    login: Login = field(repr=False)
    timeout: int = CONNECT_TIMEOUT
    scripts: bool = True  # False: digests computed in the client (EVAL refused)

    def databases(self) -> list[int]:
        """The logical databases that hold keys (``INFO keyspace``)."""
        info = self.client.info("keyspace")
        dbs = sorted(int(name[2:]) for name in info if name.startswith("db"))
        return dbs or [0]

    def size(self) -> int:
        info = self.client.info("keyspace")
        return sum(int(v.get("keys", 0)) for v in info.values() if isinstance(v, dict))

    def _each_db(self) -> Iterator[tuple[Any, str]]:
        """(client, record prefix) per logical database that holds keys."""
        for db in self.databases():
            if db == 0:
                yield self.client, ""
            else:
                with connect(self.login, self.timeout, db) as other:
                    yield other.client, f"db{db}/"

    def read_keys(self, batch: int = BATCH) -> Iterator[KeyInfo]:
        """Every key's type, TTL presence and value digest (keys that vanish mid-scan are
        skipped)."""
        for client, prefix in self._each_db():
            yield from self._read_db(client, prefix, batch)

    def read_summed(self, batch: int = BATCH) -> KeyScan | None:
        """Every key, its record digest summed in the server one SCAN step per script call
        (canary keys listed one by one); None when scripts are refused or the key space
        changed during the scan (a key may then be counted twice, or missed: the caller reads
        key by key instead)."""
        import redis

        if not self.scripts:
            return None
        out = KeyScan(path="summed in the server")
        for client, prefix in self._each_db():
            script = client.register_script(_SUMMED)
            canary = CANARY_PREFIX if not prefix else ""
            before = client.dbsize()
            cursor, count = b"0", 0
            while True:
                try:
                    reply = script(args=[cursor, batch, prefix, canary])
                except redis.ResponseError as err:
                    if not _refused(err):
                        raise
                    self.scripts = False
                    return None
                cursor, n, limbs = reply[0], int(reply[1]), [int(x) for x in reply[2:6]]
                count += n
                out.summed += n
                out.summed_digest += sum(x << (96 - 32 * i) for i, x in enumerate(limbs))
                for key, line in zip(reply[6::2], reply[7::2], strict=True):
                    out.keys.append(_key_info(prefix, key, line.split(b" ")))
                    count += 1
                if cursor in (b"0", 0, "0"):
                    break
            if not before == count == client.dbsize():
                return None
        out.summed_digest %= _MOD
        return out

    def _read_db(self, client: Any, prefix: str, batch: int) -> Iterator[KeyInfo]:
        for keys, rows in self._pages(client, batch):
            for key, row in zip(keys, rows, strict=True):
                if row[0] == b"none":  # gone since SCAN listed it
                    continue
                yield _key_info(prefix, key, row)

    def _pages(self, client: Any, batch: int) -> Iterator[tuple[list[bytes], list]]:
        """(keys, (type, TTL present, digest) per key) per SCAN page. One thread runs SCAN
        and the script ahead of the caller (a few pages), so the server digests the next
        page while this one is counted."""
        pages: queue.Queue = queue.Queue(maxsize=4)
        stop = threading.Event()

        def put(item: Any) -> None:
            while not stop.is_set():
                try:
                    pages.put(item, timeout=0.5)
                    return
                except queue.Full:
                    continue

        def produce() -> None:
            try:
                script = client.register_script(_PER_KEY)
                cursor, seen = 0, set()
                while not stop.is_set():
                    cursor, page = client.scan(cursor=cursor, count=batch)
                    keys = [k for k in dict.fromkeys(page) if k not in seen]  # SCAN may repeat
                    seen.update(keys)
                    if keys:
                        put((keys, self._digests(client, script, keys)))
                    if int(cursor) == 0:
                        break
                put(None)
            except BaseException as err:  # noqa: BLE001  (raised again in the caller)
                put(err)

        worker = threading.Thread(target=produce, name="redis-scan", daemon=True)
        worker.start()
        try:
            while True:
                item = pages.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            worker.join(timeout=READ_TIMEOUT)

    def _digests(self, client: Any, script: Any, keys: list[bytes]) -> list:
        import redis

        if self.scripts:
            try:
                return [line.split(b" ") for line in script(keys=keys).split(b"\n")]
            except redis.ResponseError as err:
                if not _refused(err):
                    raise
                self.scripts = False  # EVAL refused (an ACL): digests in the client
        return _digests_in_client(client, keys)

    def canaries(self) -> list[datetime]:
        """The times of the canary keys (database 0)."""
        found = []
        for key in self.client.scan_iter(match=CANARY_PREFIX + "*", count=BATCH):
            when = canary_time(key.decode("utf-8", "replace"))
            if when is not None:
                found.append(when)
        return sorted(found)

    def write_canary(self, run_id: str, now: datetime) -> str:
        """One canary key (no TTL); its name."""
        key = f"{CANARY_PREFIX}{stamp(now)}"
        self.client.set(key, run_id)
        return key


def _refused(err: Exception) -> bool:
    """Whether a command error says scripts are not allowed here (an ACL without EVAL, a
    renamed or disabled command)."""
    text = str(err).lower()
    return "unknown command" in text or "noperm" in text.replace(" ", "") or "noscript" in text


def _key_info(prefix: str, key: bytes, row: list[bytes]) -> KeyInfo:
    kind, ttl, digest = row
    return KeyInfo(
        key=prefix + key.decode("utf-8", "backslashreplace"),
        type=kind.decode(),
        ttl=ttl == b"1",
        digest=digest.decode(),
        raw=prefix.encode() + key,
    )


def _digests_in_client(client: Any, keys: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    """The script's answer (type, TTL present, digest), computed from values read back
    (where EVAL is refused)."""
    raw = client.pipeline(transaction=False)
    for k in keys:
        raw.type(k)
        raw.pttl(k)
    answers = raw.execute()
    kinds = [(a.decode() if isinstance(a, bytes) else a) for a in answers[0::2]]
    reads = client.pipeline(transaction=False)
    for k, kind in zip(keys, kinds, strict=True):
        read_command(reads, k, kind)
    # raw replies: the commands' response callbacks (floats, dicts, sets) are bypassed
    values = reads.execute()
    out = []
    for kind, pttl, value in zip(kinds, answers[1::2], values, strict=True):
        ttl = b"1" if int(pttl) > 0 else b"0"
        out.append((kind.encode(), ttl, _client_digest(kind, value).encode()))
    return out


def read_command(pipe: Any, key: bytes, kind: str) -> None:
    """Queue on ``pipe`` the command that reads a whole value of type ``kind``."""
    if kind == "string":
        pipe.execute_command("GET", key)
    elif kind == "list":
        pipe.execute_command("LRANGE", key, 0, -1)
    elif kind == "set":
        pipe.execute_command("SMEMBERS", key)
    elif kind == "hash":
        pipe.execute_command("HGETALL", key)
    elif kind == "zset":
        pipe.execute_command("ZRANGE", key, 0, -1, "WITHSCORES")
    elif kind == "stream":
        pipe.execute_command("XRANGE", key, "-", "+")
    else:
        pipe.execute_command("EXISTS", key)


def _client_digest(kind: str, value: Any) -> str:
    if kind == "string":
        return _sha1(value if value is not None else b"")
    if kind == "list":
        return _sha1(_enc(list(value)))
    if kind == "set":
        return _members(list(value), 1)
    if kind == "hash":
        items = (
            value.items() if isinstance(value, dict) else zip(value[0::2], value[1::2], strict=True)
        )
        return _members([x for pair in items for x in pair], 2)
    if kind == "zset":
        flat = []
        for item in value:
            if isinstance(item, list | tuple):  # (member, score) pairs
                flat += [item[0], _score(item[1])]
            else:
                flat.append(item)
        return _sha1(_enc(flat))
    if kind == "stream":
        flat = []
        for entry_id, fields in value:
            pairs = (
                [x for pair in fields.items() for x in pair]
                if isinstance(fields, dict)
                else list(fields)
            )
            flat += [entry_id, str(len(pairs)).encode(), *pairs]
        return _sha1(_enc(flat))
    return "" if kind == "none" else f"type:{kind}"


def _score(score: Any) -> bytes:
    return score if isinstance(score, bytes) else repr(float(score)).encode()


# --------------------------------------------------------------------------- fingerprint


def record(info: KeyInfo) -> bytes:
    """The canonical form of one key's record (what the fingerprint hashes): the key's bytes
    (``db<N>/`` before them outside database 0), length-prefixed, its type, TTL present (1/0)
    and value digest: ``<length>:<key><type> <0|1> <digest>``."""
    key = info.raw if info.raw is not None else info.key.encode("utf-8", "backslashreplace")
    return b"%d:%s%s %d %s" % (len(key), key, info.type.encode(), info.ttl, info.digest.encode())


def record_digest(info: KeyInfo) -> int:
    """A key's record digest: the first 128 bits of the record's SHA-1 (what the server's
    script sums, ``redis.sha1hex`` being the one hash Lua has there)."""
    return int(_sha1(record(info))[:32], 16)


def fingerprint(
    keys: KeyScan | list[KeyInfo], *, with_canary: bool = True, key_limit: int = KEY_LIMIT
) -> Fingerprint:
    """One fingerprint of ``keys`` (kind ``redis-keys-2``): count = keys, digest = the sum of
    their record digests modulo 2**128; per-key digests (named by key) while there are at
    most ``key_limit`` keys and none were summed in the server."""
    fp = Fingerprint(KIND)
    listed = list(keys)
    summed = keys.summed if isinstance(keys, KeyScan) else 0
    keep = summed == 0 and len(listed) <= key_limit
    if summed:
        fp.count, fp.digest = summed, keys.summed_digest % _MOD
    for info in listed:
        if info.is_canary and not with_canary:
            continue
        d = record_digest(info)
        fp.count += 1
        fp.digest = (fp.digest + d) % _MOD
        if keep:
            fp.key_digests[info.key] = f"{d:032x}"[:16]
    return fp


def read(cache: Cache, key_limit: int | None = None) -> KeyScan:
    """Every key of ``cache``: summed in the server when it holds more than ``key_limit``
    keys (default :data:`KEY_LIMIT`; no per-key digests are kept for those), else key by
    key; in the client where scripts are refused. ``cache.scripts`` says afterwards whether
    the server digested, :attr:`KeyScan.detail` which path ran."""
    limit = KEY_LIMIT if key_limit is None else key_limit
    if cache.size() > limit:
        summed = cache.read_summed()
        if summed is not None:
            summed.key_limit = limit
            return summed
    keys = list(cache.read_keys())
    return KeyScan(keys=keys, path="per-key" if cache.scripts else "client", key_limit=limit)
