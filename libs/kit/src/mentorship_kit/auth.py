"""Bearer JWT authentication and role checks.

Tokens are verified with the identity provider's JWKS (fetched with httpx, cached, and
re-fetched when a token names an unknown key id) or a static PEM public key. HS256
tokens signed with a shared secret are accepted only in dev mode. Roles come from the
``roles`` claim; for participants ``sub`` is the employee id.

Usage in a router::

    @router.get("/v1/programs")
    async def list_programs(principal: CurrentPrincipal) -> ...

    @router.post("/v1/programs", dependencies=[Depends(require_roles("admin", "program_manager"))])
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Final

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from mentorship_kit.problems import UNAVAILABLE, ProblemError
from mentorship_kit.settings import ServiceSettings

log = structlog.get_logger(__name__)


class Role(StrEnum):
    ADMIN = "admin"
    PROGRAM_MANAGER = "program_manager"
    PARTICIPANT = "participant"
    HRIS = "hris"


ROLES: Final = frozenset(role.value for role in Role)
DEV_ALGORITHM: Final = "HS256"
_RSA_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_ALGORITHMS: Final = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
# Verified tokens remembered per process, and for how long at most (see TokenVerifier).
VERIFIED_TOKENS_KEPT: Final = 10_000
VERIFIED_TOKEN_SECONDS: Final = 60.0
_ASYMMETRIC: Final = frozenset((*_RSA_ALGORITHMS, *_EC_ALGORITHMS.values()))

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class Principal:
    """Who made the request: the token's subject and its known roles."""

    subject: str
    roles: frozenset[str]

    def has(self, role: str) -> bool:
        return role in self.roles

    def has_any(self, *roles: str) -> bool:
        return not self.roles.isdisjoint(roles)


class AuthenticationError(Exception):
    """The token is missing, malformed, expired, or not signed by a trusted key."""


class KeySetUnavailableError(Exception):
    """The identity provider's keys could not be fetched and none are cached."""


def _algorithms_for(key: object) -> list[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return list(_RSA_ALGORITHMS)
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _EC_ALGORITHMS:
        return [_EC_ALGORITHMS[key.curve.name]]
    raise AuthenticationError("the signing key is neither RSA nor a supported EC curve")


@dataclass(frozen=True)
class _SigningKey:
    key_id: str | None
    key: Any
    algorithms: list[str]


class JwksCache:
    """The identity provider's signing keys, fetched over HTTP and kept for a while.

    A token with an unknown key id triggers a re-fetch (the provider rotated keys), but
    at most once per ``min_refresh_seconds`` so that made-up key ids cannot turn every
    request into a call to the provider. When a fetch fails the previous keys stay in
    use; only a process that never got them answers 503.
    """

    def __init__(
        self,
        url: str,
        *,
        max_age_seconds: float = 300,
        min_refresh_seconds: float = 10,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self._max_age = max_age_seconds
        self._min_refresh = min_refresh_seconds
        self._client = client
        self._owns_client = client is None
        self._keys: list[_SigningKey] | None = None
        self._fetched_at = 0.0
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key_for(self, key_id: str | None) -> _SigningKey:
        if self._should_fetch(key_id):
            async with self._lock:
                if self._should_fetch(key_id):
                    await self._fetch()
        if self._keys is None:
            raise KeySetUnavailableError(f"no signing keys could be fetched from {self.url}")
        candidates = [k for k in self._keys if key_id is None or k.key_id == key_id]
        if len(candidates) != 1:
            raise AuthenticationError(
                f"unknown signing key id {key_id!r}" if key_id else "the token names no key id"
            )
        return candidates[0]

    def _should_fetch(self, key_id: str | None) -> bool:
        now = time.monotonic()
        if self._attempted_at is not None and now - self._attempted_at < self._min_refresh:
            return False
        if self._keys is None or now - self._fetched_at >= self._max_age:
            return True
        return key_id is not None and all(k.key_id != key_id for k in self._keys)

    async def _fetch(self) -> None:
        self._attempted_at = time.monotonic()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=5.0)
        try:
            response = await self._client.get(self.url)
            response.raise_for_status()
            keys = _parse_jwks(response.json())
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("auth.jwks_fetch_failed", url=self.url, error=str(exc))
            return
        if not keys:
            log.warning("auth.jwks_without_usable_keys", url=self.url)
        self._keys = keys
        self._fetched_at = self._attempted_at
        log.info("auth.jwks_fetched", url=self.url, keys=len(keys))

    async def aclose(self) -> None:
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None


def _parse_jwks(document: object) -> list[_SigningKey]:
    """The asymmetric signing keys of a JWK set; keys of other kinds are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError("the document is not a JWK set")  # noqa: TRY004 - caught as a bad fetch
    keys = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
        if jwk.algorithm_name not in _ASYMMETRIC:
            continue
        # A key that states its algorithm is used with that one only; otherwise with
        # the algorithms of its family.
        algorithms = [jwk.algorithm_name] if "alg" in entry else _algorithms_for(jwk.key)
        keys.append(_SigningKey(jwk.key_id, jwk.key, algorithms))
    return keys


class TokenVerifier:
    """Verifies bearer tokens as the settings say; one per app."""

    def __init__(
        self, settings: ServiceSettings, *, jwks_client: httpx.AsyncClient | None = None
    ) -> None:
        self._issuer = settings.auth_issuer
        self._audience = settings.auth_audience
        self._leeway = settings.auth_leeway_seconds
        self._dev_secret = settings.dev_secret
        self._static: _SigningKey | None = None
        self._verified: dict[str, tuple[Principal, float]] = {}
        if settings.auth_public_key:
            key = load_pem_public_key(settings.auth_public_key.encode())
            self._static = _SigningKey(None, key, _algorithms_for(key))
        self._jwks = (
            JwksCache(
                settings.auth_jwks_url,
                max_age_seconds=settings.auth_jwks_cache_seconds,
                client=jwks_client,
            )
            if settings.auth_jwks_url
            else None
        )

    async def verify(self, token: str) -> Principal:
        """The token's principal; AuthenticationError when it is not acceptable.

        A verified token is remembered (by its exact text, signature included) until it
        expires, for at most ``VERIFIED_TOKEN_SECONDS``: a portal or an HRIS job sends
        the same token with every request, and checking its signature again each time
        cost more CPU than the rest of authentication. A signing key withdrawn from the
        JWKS therefore stops being honoured within that bound.
        """
        now = time.time()
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, until = remembered
            if now < until:
                return principal
            del self._verified[token]
        principal, expires_at = await self._verify(token)
        if len(self._verified) >= VERIFIED_TOKENS_KEPT:
            # Oldest first: dicts keep insertion order.
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (principal, min(expires_at, now + VERIFIED_TOKEN_SECONDS))
        return principal

    async def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"malformed token: {exc}") from exc
        algorithm = header.get("alg")
        if algorithm == DEV_ALGORITHM:
            if self._dev_secret is None:
                raise AuthenticationError("HS256 tokens are accepted in dev mode only")
            key: Any = self._dev_secret
            algorithms = [DEV_ALGORITHM]
        elif algorithm in _ASYMMETRIC:
            signing_key = await self._signing_key(header.get("kid"))
            key, algorithms = signing_key.key, signing_key.algorithms
        else:
            raise AuthenticationError(f"signing algorithm {algorithm!r} is not accepted")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": ["exp", "sub"], "verify_aud": self._audience is not None},
            )
        except jwt.PyJWTError as exc:
            raise AuthenticationError(str(exc)) from exc
        # ``exp`` is required and was checked, leeway included; kept without the leeway.
        return _principal(claims), float(claims["exp"])

    async def _signing_key(self, key_id: object) -> _SigningKey:
        kid = key_id if isinstance(key_id, str) else None
        if self._jwks is not None and (kid is not None or self._static is None):
            return await self._jwks.key_for(kid)
        if self._static is not None:
            return self._static
        raise AuthenticationError("no public key is configured for asymmetric tokens")

    async def aclose(self) -> None:
        if self._jwks is not None:
            await self._jwks.aclose()


def _principal(claims: dict[str, Any]) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError("the sub claim must be a non-empty string")
    roles = claims.get("roles", [])
    if not isinstance(roles, list) or not all(isinstance(role, str) for role in roles):
        raise AuthenticationError("the roles claim must be a list of strings")
    # Identity providers may carry roles of other applications; ours are kept.
    return Principal(subject=subject, roles=frozenset(roles) & ROLES)


_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT with a `roles` claim (admin, program_manager, participant, hris).",
)


def _unauthorized(detail: str, *, invalid: bool) -> ProblemError:
    challenge = "Bearer"
    if invalid:
        # RFC 6750 section 3: quoted-string values, so quotes and backslashes are dropped.
        reason = detail.replace('"', "").replace("\\", "")
        challenge = f'Bearer error="invalid_token", error_description="{reason}"'
    return ProblemError(401, detail, headers={"WWW-Authenticate": challenge})


def token_verifier(request: Request) -> TokenVerifier:
    verifier = getattr(request.app.state, "token_verifier", None)
    if not isinstance(verifier, TokenVerifier):
        raise RuntimeError("app.state.token_verifier is not set: build the app with create_app")  # noqa: TRY004 - a wiring bug, not a type check
    return verifier


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The request's principal; 401 problem when the bearer token is missing or invalid."""
    if credentials is None:
        raise _unauthorized("a bearer token is required", invalid=False)
    try:
        principal = await token_verifier(request).verify(credentials.credentials)
    except AuthenticationError as exc:
        raise _unauthorized(str(exc), invalid=True) from exc
    except KeySetUnavailableError as exc:
        raise ProblemError.of(
            UNAVAILABLE,
            "the identity provider's signing keys cannot be fetched",
            headers={"Retry-After": "5"},
        ) from exc
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that returns the principal when it holds any of ``roles``, else 403."""
    wanted = frozenset(roles)
    if not wanted:
        raise ValueError("require_roles needs at least one role")
    if unknown := wanted - ROLES:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")
    listed = sorted(wanted)

    async def principal_with_role(principal: CurrentPrincipal) -> Principal:
        if principal.has_any(*wanted):
            return principal
        raise ProblemError(
            403,
            f"this action requires one of the roles: {', '.join(listed)}",
            extensions={"required_roles": listed},
        )

    return principal_with_role


def issue_dev_token(
    secret: str,
    *,
    role: str | None = None,
    roles: Iterable[str] = (),
    sub: str | None = None,
    ttl: timedelta = timedelta(hours=12),
    issuer: str | None = None,
    audience: str | None = None,
    now: datetime | None = None,
) -> str:
    """An HS256 token that services in dev mode accept (``mentorship token``).

    ``sub`` defaults to ``dev-<first role>``; participant tokens must name the
    employee id they act as.
    """
    wanted: Sequence[str] = list(dict.fromkeys([*([role] if role else []), *roles]))
    if not wanted:
        raise ValueError("a dev token needs at least one role")
    if unknown := set(wanted) - ROLES:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {sorted(ROLES)}")
    if sub is None and Role.PARTICIPANT in wanted:
        raise ValueError("a participant token needs sub = the employee id")
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": sub or f"dev-{wanted[0]}",
        "roles": list(wanted),
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl,
        "jti": uuid.uuid4().hex,
    }
    if issuer is not None:
        claims["iss"] = issuer
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=DEV_ALGORITHM)
