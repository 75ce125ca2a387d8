"""JSON Web Tokens of the gateway: the EHR's, verified as CDS Hooks 2.0 requires, and Steward's
own, signed for the supplier and published as a JWK Set.

An EHR token is accepted only if its algorithm is asymmetric and allowed, its issuer is on the
allowlist, its key comes from that issuer's configured JWK Set or from a ``jku`` on the issuer's
allowlist, its signature verifies, ``aud`` names the endpoint called, and ``exp``, ``iat`` and
``jti`` are present and current. Replayed ``jti`` values are refused by the caller (stored in
the database). Reasons for refusal are for the log only.
"""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from steward.config import CdsIssuer, ConfigError, Settings

LOG = logging.getLogger("steward.cdshooks")
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
JWKS_PATH = "/.well-known/jwks.json"


class TokenRefusedError(Exception):
    """The EHR's token is not acceptable; the message (for the log) says why."""


@dataclass(frozen=True)
class VerifiedToken:
    """The parts of an accepted EHR token the gateway keeps."""

    issuer: str
    jti: str
    expires_at: datetime
    tenant: str | None


class IssuerKeys:
    """The JWK Sets of trusted issuers: configured ones, and allowlisted ``jku`` URLs (cached)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._fetched: dict[str, tuple[float, dict[str, Any]]] = {}

    async def key(self, issuer: str, header: dict[str, Any], client: aiohttp.ClientSession) -> Any:
        """The public key of ``issuer`` named by the header's ``kid``."""
        trusted = self.settings.cds_issuers.get(issuer)
        if trusted is None:
            raise TokenRefusedError(f"issuer {issuer!r} is not on the allowlist")
        kid = header.get("kid")
        jku = header.get("jku")
        if jku is not None:
            if not isinstance(jku, str) or jku not in trusted.jku:
                raise TokenRefusedError(f"jku {jku!r} is not allowlisted for issuer {issuer!r}")
            jwks = await self._remote(jku, client, refresh=False)
            found = _find(jwks, kid)
            if found is None:  # the issuer may have rotated its keys since the last fetch
                found = _find(await self._remote(jku, client, refresh=True), kid)
        else:
            found = _find(_configured(trusted), kid)
        if found is None:
            raise TokenRefusedError(f"no key {kid!r} in the JWK Set of issuer {issuer!r}")
        return found

    async def _remote(self, url: str, client: aiohttp.ClientSession, *, refresh: bool) -> Any:
        cached = self._fetched.get(url)
        now = time.monotonic()
        if cached and not refresh and now - cached[0] < self.settings.cds_jku_cache_seconds:
            return cached[1]
        if cached and refresh and now - cached[0] < 5:
            return cached[1]  # at most one refresh per five seconds per URL
        try:
            async with client.get(url, allow_redirects=False) as response:
                response.raise_for_status()
                jwks = json.loads(await response.read())
        except (aiohttp.ClientError, TimeoutError, ValueError) as error:
            raise TokenRefusedError(f"could not fetch the JWK Set at {url}: {error}") from None
        self._fetched[url] = (now, jwks)
        return jwks


def _configured(trusted: CdsIssuer) -> Any:
    if trusted.jwks is not None:
        return trusted.jwks
    if trusted.jwks_file is not None:
        return _read_jwks(trusted.jwks_file)
    raise TokenRefusedError("the issuer has no configured JWK Set and the token names no jku")


@lru_cache(maxsize=32)
def _read_jwks(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise TokenRefusedError(f"cannot read the JWK Set file {path}: {error}") from None


def _find(jwks: Any, kid: Any) -> dict[str, Any] | None:
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    for key in keys if isinstance(keys, list) else []:
        if isinstance(key, dict) and key.get("kid") == kid:
            return key
    return None


@dataclass(frozen=True)
class UnverifiedToken:
    """A token parsed once, before its signature is checked: the header routes it to its key,
    and the claims are trusted only once :func:`verify_signed` has checked the signature over
    the very segments they were read from."""

    text: str
    header: dict[str, Any]
    claims: dict[str, Any]
    issuer: str


def read_header(token: str, settings: Settings) -> UnverifiedToken:
    """The token's header and its unverified issuer, after the header checks of the spec.

    Only routes the token to its key: :func:`verify_signed` then checks it in full. The token
    is parsed here only: parsing it three times cost more than verifying the signature.
    """
    header, claims = _unverified(token)
    algorithm = header.get("alg")
    if algorithm not in settings.cds_algorithms:
        raise TokenRefusedError(f"algorithm {algorithm!r} is not allowed")
    if str(header.get("typ", "")).upper() != "JWT":
        raise TokenRefusedError("header typ must be JWT")
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        raise TokenRefusedError("header kid is required")
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise TokenRefusedError("claim iss is required")
    return UnverifiedToken(token, header, claims, issuer)


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    parts = token.split(".")
    if len(parts) != 3:
        raise TokenRefusedError("not a JWT: not three segments")
    try:
        header, claims = (json.loads(_base64url(part)) for part in parts[:2])
    except (ValueError, TypeError) as error:
        raise TokenRefusedError(f"not a JWT: {error}") from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise TokenRefusedError("not a JWT: header and claims must be JSON objects")
    return header, claims


def _base64url(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def verify_signed(
    token: UnverifiedToken, jwk: dict[str, Any], audience: str, settings: Settings
) -> VerifiedToken:
    """Verify signature and claims of a token whose key has been found.

    The signature is checked with PyJWT's algorithm for the header's ``alg`` and the claims
    here: PyJWT's ``decode`` would parse the token again, which costs about as much as the
    signature check itself.
    """
    header, issuer = token.header, token.issuer
    algorithm = header["alg"]
    if jwk.get("alg") not in (None, algorithm):
        raise TokenRefusedError(f"key {header['kid']!r} is for {jwk['alg']}, not {algorithm}")
    try:
        key = _public_key(json.dumps(jwk, sort_keys=True), algorithm)
    except jwt.PyJWTError as error:
        raise TokenRefusedError(f"{error.__class__.__name__}: {error}") from None
    signing_input, _, signature = token.text.rpartition(".")
    try:
        valid = key.Algorithm.verify(signing_input.encode(), key.key, _base64url(signature))
    except (ValueError, TypeError):
        valid = False
    if not valid:
        raise TokenRefusedError("signature verification failed")
    claims = token.claims  # read from the segments the signature covers
    _check_claims(claims, issuer, audience, settings.cds_clock_skew_seconds)
    jti = claims["jti"]
    if not isinstance(jti, str) or not jti or len(jti) > 500:
        raise TokenRefusedError("claim jti must be a non-empty string")
    tenant = claims.get("tenant")
    return VerifiedToken(
        issuer=issuer,
        jti=jti,
        expires_at=datetime.fromtimestamp(
            float(claims["exp"]) + settings.cds_clock_skew_seconds, UTC
        ),
        tenant=tenant if isinstance(tenant, str) else None,
    )


def _check_claims(claims: dict[str, Any], issuer: str, audience: str, leeway: int) -> None:
    """``iss``, ``aud``, ``exp``, ``iat`` and ``jti`` present; ``aud`` names ``audience``;
    ``exp`` not past, ``iat`` and ``nbf`` not in the future (``leeway`` seconds of skew)."""
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise TokenRefusedError(f"claim {name} is required")
    if claims["iss"] != issuer:
        raise TokenRefusedError("claim iss does not match")
    named = claims["aud"]
    named = [named] if isinstance(named, str) else named
    if not isinstance(named, list) or audience not in named:
        raise TokenRefusedError(f"claim aud does not name {audience}")
    now = time.time()
    if _seconds(claims, "exp") <= now - leeway:
        raise TokenRefusedError("the token has expired")
    if _seconds(claims, "iat") > now + leeway:
        raise TokenRefusedError("claim iat is in the future")
    if "nbf" in claims and _seconds(claims, "nbf") > now + leeway:
        raise TokenRefusedError("the token is not yet valid (nbf)")


def _seconds(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TokenRefusedError(f"claim {name} must be a number")
    return float(value)


@lru_cache(maxsize=256)
def _public_key(jwk: str, algorithm: str) -> jwt.PyJWK:
    """The key of a JWK (as canonical JSON), parsed once: parsing costs more than verifying."""
    return jwt.PyJWK(json.loads(jwk), algorithm=algorithm)


class StewardSigner:
    """Steward's signing key (ES384 for EC P-384, RS384 for RSA) and its public JWK Set."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kid = settings.cds_signing_kid
        self.private_key = _signing_key(settings)
        if isinstance(self.private_key, ec.EllipticCurvePrivateKey):
            self.algorithm = "ES384"
            public = jwt.algorithms.ECAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        else:
            self.algorithm = "RS384"
            public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        self.jwk = {**public, "kid": self.kid, "use": "sig", "alg": self.algorithm}
        base = (settings.cds_base_url or "").rstrip("/")
        self.issuer = base or "steward"
        self.jku = f"{base}{JWKS_PATH}" if base else None

    def jwks(self) -> dict[str, Any]:
        """The JWK Set suppliers use to verify Steward's calls."""
        return {"keys": [self.jwk]}

    def sign(self, audience: str, tenant: str | None = None) -> str:
        """A short-lived token for one call to the supplier endpoint ``audience``."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + self.settings.cds_token_lifetime_seconds,
            "jti": str(uuid.uuid4()),
        }
        if tenant:
            claims["tenant"] = tenant
        headers: dict[str, Any] = {"kid": self.kid, "typ": "JWT"}
        if self.jku:
            headers["jku"] = self.jku
        return jwt.encode(claims, self.private_key, algorithm=self.algorithm, headers=headers)


def _signing_key(settings: Settings) -> Any:
    path = settings.cds_signing_key_file
    if path is None:
        if not settings.dev:
            raise ConfigError(
                "STEWARD_CDS_SIGNING_KEY_FILE is not set; the CDS Hooks gateway needs a PEM "
                "private key (EC P-384 or RSA) to sign its calls to suppliers"
            )
        return _dev_key()
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigError(f"STEWARD_CDS_SIGNING_KEY_FILE {path}: {error}") from None
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP384R1):
        return key
    if isinstance(key, rsa.RSAPrivateKey) and key.key_size >= 2048:
        return key
    raise ConfigError(
        f"STEWARD_CDS_SIGNING_KEY_FILE {path}: use an EC P-384 key (ES384) or an RSA key of at "
        "least 2048 bits (RS384)"
    )


@lru_cache(maxsize=1)
def _dev_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())
