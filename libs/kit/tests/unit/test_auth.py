"""Bearer tokens: who is let in, who is turned away, and how they are told."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi import Depends, FastAPI
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from mentorship_kit.auth import (
    VERIFIED_TOKEN_SECONDS,
    AuthenticationError,
    CurrentPrincipal,
    Principal,
    TokenVerifier,
    issue_dev_token,
    require_roles,
)
from mentorship_kit.problems import install_problem_handlers
from mentorship_kit.settings import DEFAULT_DEV_SECRET, ServiceSettings

JWKS_URL = "https://idp.test/.well-known/jwks.json"


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem_of(private_key) -> str:
    public = private_key.public_key()
    return public.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def token(private_key, *, algorithm="RS256", kid=None, ttl=timedelta(minutes=5), **claims):
    now = datetime.now(UTC)
    payload = {"sub": "emp-1", "roles": ["admin"], "iat": now, "exp": now + ttl, **claims}
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, private_key, algorithm=algorithm, headers=headers)


def build_app(settings, *, jwks_client=None):
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_verifier = TokenVerifier(settings, jwks_client=jwks_client)

    @app.get("/me")
    async def me(principal: CurrentPrincipal):
        return {"subject": principal.subject, "roles": sorted(principal.roles)}

    @app.get("/admin")
    async def admin_only(
        principal: Annotated[Principal, Depends(require_roles("admin", "program_manager"))],
    ):
        return {"subject": principal.subject}

    return app


async def call(app, path, bearer=None):
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get(path, headers=headers)


def assert_unauthorized(response, *, invalid=True):
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    challenge = response.headers["www-authenticate"]
    if invalid:
        assert challenge.startswith('Bearer error="invalid_token"')
    else:
        assert challenge == "Bearer"
    assert response.json()["status"] == 401


@pytest.fixture
def dev_app():
    return build_app(ServiceSettings(dev_mode=True))


async def test_dev_token_in_dev_mode_gives_the_principal(dev_app):
    bearer = issue_dev_token(DEFAULT_DEV_SECRET, roles=["participant"], sub="emp-42")

    response = await call(dev_app, "/me", bearer)

    assert response.status_code == 200
    assert response.json() == {"subject": "emp-42", "roles": ["participant"]}


async def test_missing_token_is_401_with_a_bearer_challenge(dev_app):
    assert_unauthorized(await call(dev_app, "/me"), invalid=False)


async def test_garbage_token_is_401(dev_app):
    assert_unauthorized(await call(dev_app, "/me", "not.a.jwt"))


async def test_expired_token_is_401(dev_app):
    bearer = issue_dev_token(
        DEFAULT_DEV_SECRET, role="admin", now=datetime.now(UTC) - timedelta(hours=2),
        ttl=timedelta(hours=1),
    )  # fmt: skip

    response = await call(dev_app, "/me", bearer)

    assert_unauthorized(response)
    assert "expired" in response.json()["detail"]


async def test_token_not_yet_valid_is_401(dev_app):
    bearer = issue_dev_token(
        DEFAULT_DEV_SECRET, role="admin", now=datetime.now(UTC) + timedelta(hours=1)
    )

    assert_unauthorized(await call(dev_app, "/me", bearer))


async def test_token_signed_with_another_secret_is_401(dev_app):
    bearer = issue_dev_token("another-secret-of-sufficient-length-000", role="admin")

    assert_unauthorized(await call(dev_app, "/me", bearer))


async def test_hs256_is_refused_outside_dev_mode():
    app = build_app(ServiceSettings(auth_public_key=pem_of(rsa_key())))
    bearer = issue_dev_token(DEFAULT_DEV_SECRET, role="admin")

    response = await call(app, "/me", bearer)

    assert_unauthorized(response)
    assert "dev mode" in response.json()["detail"]


async def test_unknown_roles_are_dropped_and_role_checks_answer_403(dev_app):
    bearer = issue_dev_token(DEFAULT_DEV_SECRET, role="hris")
    raw = jwt.decode(bearer, DEFAULT_DEV_SECRET, algorithms=["HS256"])
    raw["roles"] = ["hris", "superuser"]
    bearer = jwt.encode(raw, DEFAULT_DEV_SECRET, algorithm="HS256")

    me = await call(dev_app, "/me", bearer)
    admin = await call(dev_app, "/admin", bearer)

    assert me.json()["roles"] == ["hris"]
    assert admin.status_code == 403
    assert admin.headers["content-type"] == "application/problem+json"
    assert admin.json()["required_roles"] == ["admin", "program_manager"]


async def test_any_required_role_is_enough(dev_app):
    bearer = issue_dev_token(DEFAULT_DEV_SECRET, role="program_manager")

    response = await call(dev_app, "/admin", bearer)

    assert response.status_code == 200
    assert response.json() == {"subject": "dev-program_manager"}


async def test_roles_claim_of_the_wrong_shape_is_401(dev_app):
    now = datetime.now(UTC)
    bearer = jwt.encode(
        {"sub": "x", "roles": "admin", "exp": now + timedelta(minutes=1)},
        DEFAULT_DEV_SECRET,
        algorithm="HS256",
    )

    assert_unauthorized(await call(dev_app, "/me", bearer))


async def test_rs256_with_a_static_public_key():
    key = rsa_key()
    app = build_app(ServiceSettings(auth_public_key=pem_of(key)))

    ok = await call(app, "/me", token(key))
    wrong_key = await call(app, "/me", token(rsa_key()))

    assert ok.status_code == 200
    assert ok.json() == {"subject": "emp-1", "roles": ["admin"]}
    assert_unauthorized(wrong_key)


async def test_es256_with_a_static_public_key():
    key = ec.generate_private_key(ec.SECP256R1())
    app = build_app(ServiceSettings(auth_public_key=pem_of(key)))

    response = await call(app, "/me", token(key, algorithm="ES256"))

    assert response.status_code == 200


async def test_issuer_and_audience_are_checked_when_configured():
    key = rsa_key()
    app = build_app(
        ServiceSettings(
            auth_public_key=pem_of(key), auth_issuer="https://idp.test", auth_audience="mentorship"
        )
    )

    ok = await call(app, "/me", token(key, iss="https://idp.test", aud="mentorship"))
    wrong_issuer = await call(app, "/me", token(key, iss="https://evil.test", aud="mentorship"))
    wrong_audience = await call(app, "/me", token(key, iss="https://idp.test", aud="billing"))
    no_issuer = await call(app, "/me", token(key, aud="mentorship"))

    assert ok.status_code == 200
    assert_unauthorized(wrong_issuer)
    assert_unauthorized(wrong_audience)
    assert_unauthorized(no_issuer)


async def test_token_without_expiry_is_401():
    key = rsa_key()
    app = build_app(ServiceSettings(auth_public_key=pem_of(key)))
    bearer = jwt.encode({"sub": "emp-1", "roles": ["admin"]}, key, algorithm="RS256")

    assert_unauthorized(await call(app, "/me", bearer))


class FakeIdentityProvider:
    """Serves a JWK set through httpx's mock transport and counts the fetches."""

    def __init__(self, *keys):
        self.keys = dict(keys)
        self.fetches = 0
        self.up = True

    def jwks(self):
        entries = []
        for kid, private_key in self.keys.items():
            algorithm = RSAAlgorithm if isinstance(private_key, rsa.RSAPrivateKey) else ECAlgorithm
            entry = json.loads(algorithm.to_jwk(private_key.public_key()))
            entries.append({**entry, "kid": kid, "use": "sig"})
        return {"keys": entries}

    def handle(self, request):
        assert str(request.url) == JWKS_URL
        self.fetches += 1
        if not self.up:
            return httpx.Response(503)
        return httpx.Response(200, json=self.jwks())

    def client(self):
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


async def test_jwks_keys_are_fetched_once_and_cached():
    key = rsa_key()
    idp = FakeIdentityProvider(("k1", key))
    app = build_app(ServiceSettings(auth_jwks_url=JWKS_URL), jwks_client=idp.client())

    first = await call(app, "/me", token(key, kid="k1"))
    second = await call(app, "/me", token(key, kid="k1"))

    assert (first.status_code, second.status_code) == (200, 200)
    assert idp.fetches == 1


async def test_jwks_rotation_is_picked_up_by_key_id():
    old, new = rsa_key(), ec.generate_private_key(ec.SECP256R1())
    idp = FakeIdentityProvider(("old", old))
    settings = ServiceSettings(auth_jwks_url=JWKS_URL)
    verifier = TokenVerifier(settings, jwks_client=idp.client())
    verifier._jwks._min_refresh = 0  # the rate limit is exercised in the next test

    assert (await verifier.verify(token(old, kid="old"))).subject == "emp-1"
    idp.keys["new"] = new
    principal = await verifier.verify(token(new, kid="new", algorithm="ES256", sub="emp-2"))

    assert principal.subject == "emp-2"
    assert idp.fetches == 2


async def test_unknown_key_ids_cannot_force_a_fetch_per_request():
    key = rsa_key()
    idp = FakeIdentityProvider(("k1", key))
    app = build_app(ServiceSettings(auth_jwks_url=JWKS_URL), jwks_client=idp.client())
    await call(app, "/me", token(key, kid="k1"))

    responses = [await call(app, "/me", token(key, kid=f"made-up-{i}")) for i in range(5)]

    for response in responses:
        assert_unauthorized(response)
    assert idp.fetches == 1


async def test_jwks_signed_by_a_key_not_in_the_set_is_401():
    idp = FakeIdentityProvider(("k1", rsa_key()))
    app = build_app(ServiceSettings(auth_jwks_url=JWKS_URL), jwks_client=idp.client())

    assert_unauthorized(await call(app, "/me", token(rsa_key(), kid="k1")))


async def test_identity_provider_down_without_cached_keys_is_503():
    key = rsa_key()
    idp = FakeIdentityProvider(("k1", key))
    idp.up = False
    app = build_app(ServiceSettings(auth_jwks_url=JWKS_URL), jwks_client=idp.client())

    response = await call(app, "/me", token(key, kid="k1"))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"


async def test_cached_keys_outlive_an_identity_provider_outage():
    key = rsa_key()
    idp = FakeIdentityProvider(("k1", key))
    verifier = TokenVerifier(ServiceSettings(auth_jwks_url=JWKS_URL), jwks_client=idp.client())
    await verifier.verify(token(key, kid="k1"))
    idp.up = False
    verifier._jwks._max_age = 0  # the keys are stale: a re-fetch is attempted and fails
    verifier._jwks._min_refresh = 0

    # Another token: one already verified would not need the keys again.
    principal = await verifier.verify(token(key, kid="k1", jti="another"))

    assert principal.subject == "emp-1"
    assert idp.fetches == 2


async def test_jwks_served_by_a_real_http_server():
    """The verifier's own HTTP client against a real socket, not a mock transport."""
    key = rsa_key()
    body = json.dumps(FakeIdentityProvider(("k1", key)).jwks()).encode()

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        verifier = TokenVerifier(ServiceSettings(auth_jwks_url=f"http://127.0.0.1:{port}/jwks"))
        try:
            principal = await verifier.verify(token(key, kid="k1"))
        finally:
            await verifier.aclose()

    assert principal == Principal(subject="emp-1", roles=frozenset({"admin"}))


def test_principal_role_helpers():
    principal = Principal(subject="emp-1", roles=frozenset({"participant"}))

    assert principal.has("participant")
    assert not principal.has("admin")
    assert principal.has_any("admin", "participant")


def test_require_roles_refuses_unknown_role_names():
    with pytest.raises(ValueError, match="unknown roles"):
        require_roles("admni")
    with pytest.raises(ValueError, match="at least one role"):
        require_roles()


def test_dev_tokens_name_known_roles_and_participants_name_their_employee():
    with pytest.raises(ValueError, match="unknown roles"):
        issue_dev_token(DEFAULT_DEV_SECRET, role="root")
    with pytest.raises(ValueError, match="employee id"):
        issue_dev_token(DEFAULT_DEV_SECRET, role="participant")
    with pytest.raises(ValueError, match="at least one role"):
        issue_dev_token(DEFAULT_DEV_SECRET)


def test_dev_token_claims():
    now = datetime(2030, 1, 1, tzinfo=UTC)

    bearer = issue_dev_token(
        DEFAULT_DEV_SECRET, role="admin", roles=["hris", "admin"], ttl=timedelta(minutes=10),
        issuer="https://dev", audience="mentorship", now=now,
    )  # fmt: skip
    claims = jwt.decode(
        bearer, DEFAULT_DEV_SECRET, algorithms=["HS256"], audience="mentorship",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )  # fmt: skip

    assert claims["sub"] == "dev-admin"
    assert claims["roles"] == ["admin", "hris"]
    assert claims["iss"] == "https://dev"
    assert claims["exp"] - claims["iat"] == 600


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).timestamp()

    def time(self) -> float:
        return self.now


async def test_a_verified_token_is_remembered_until_it_expires_and_at_most_a_minute(
    monkeypatch,
):
    decoded: list[str] = []
    real_decode = jwt.decode

    def counting_decode(token, *args, **kwargs):
        decoded.append(token)
        return real_decode(token, *args, **kwargs)

    clock = Clock()
    monkeypatch.setattr("mentorship_kit.auth.jwt.decode", counting_decode)
    monkeypatch.setattr("mentorship_kit.auth.time", clock)
    verifier = TokenVerifier(ServiceSettings(dev_mode=True))
    long_lived = issue_dev_token(DEFAULT_DEV_SECRET, role="admin", ttl=timedelta(hours=1))

    first = await verifier.verify(long_lived)
    assert await verifier.verify(long_lived) == first
    assert len(decoded) == 1
    clock.now += VERIFIED_TOKEN_SECONDS + 1  # the bound on how long a key is trusted
    assert await verifier.verify(long_lived) == first
    assert len(decoded) == 2

    clock.now = datetime.now(UTC).timestamp()
    short_lived = issue_dev_token(DEFAULT_DEV_SECRET, role="admin", ttl=timedelta(seconds=20))
    await verifier.verify(short_lived)
    await verifier.verify(short_lived)
    assert len(decoded) == 3
    clock.now = real_decode(short_lived, options={"verify_signature": False})["exp"] + 1
    await verifier.verify(short_lived)  # checked again (PyJWT's own clock still accepts it)
    assert len(decoded) == 4

    refused = issue_dev_token("another-secret-of-sufficient-length-000", role="admin")
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            await verifier.verify(refused)
    assert len(decoded) == 6  # a refusal is never remembered
