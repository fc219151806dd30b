//! Signing keys, the JWKS (RFC 7517) and rotation.
//!
//! Keys come from PEM files (no key generation at start-up). A key is `active` (signs and is
//! published), `published` (only verifies: the overlap window of a rotation), `spare` (loaded,
//! not yet published) or `retired` (gone from the JWKS; tokens it signed stop verifying).
//! Rotation publishes the first spare and makes it active; with no spare left a fresh RSA key
//! is generated (blocking work, so callers run [`generate_rsa`] off the async executor).

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{Config, ConfigError, KeyAlg, KeyState};

/// Where a key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// Signs new tokens; published.
    Active,
    /// Published; verifies tokens it signed earlier.
    Published,
    /// Loaded, unpublished, next in line for rotation.
    Spare,
    /// Removed from the JWKS.
    Retired,
}

/// One key pair.
pub struct SigningKey {
    /// `kid` in the JWKS and token headers.
    pub kid: String,
    /// Signature algorithm.
    pub alg: KeyAlg,
    /// The parsed private key, for minting.
    pub signer: Signer,
    /// The public key, for verifying our own tokens (introspection, connection fetches).
    pub decoding: DecodingKey,
    /// The public JWK as served: `kty`, `alg`, `use`, `kid` and the key material.
    pub jwk: Value,
    /// SPKI PEM of the public key: the HMAC secret of the `hs256_public_key` flaw (alg confusion).
    pub public_pem: String,
    /// Lifecycle stage.
    pub stage: Stage,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print private material.
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a key pair from PEM. RS256 accepts PKCS#8 and PKCS#1; ES256 needs PKCS#8.
    pub fn from_pem(kid: &str, alg: KeyAlg, pem: &str, stage: Stage) -> Result<SigningKey, String> {
        let (encoding, jalg) = match alg {
            KeyAlg::RS256 => (EncodingKey::from_rsa_pem(pem.as_bytes()), Algorithm::RS256),
            KeyAlg::ES256 => (EncodingKey::from_ec_pem(pem.as_bytes()), Algorithm::ES256),
        };
        let encoding = encoding.map_err(|e| format!("not a {alg:?} private key in PEM: {e}"))?;
        let signer = Signer::from_pem(alg, pem)?;
        let jwk = Jwk::from_encoding_key(&encoding, jalg)
            .map_err(|e| format!("cannot derive the public key: {e}"))?;
        let decoding = DecodingKey::from_jwk(&jwk)
            .map_err(|e| format!("cannot build the verifying key: {e}"))?;
        let mut jv = serde_json::to_value(&jwk).map_err(|e| e.to_string())?;
        if let Some(o) = jv.as_object_mut() {
            o.insert("kid".into(), json!(kid));
            o.insert("alg".into(), json!(format!("{alg:?}")));
            o.insert("use".into(), json!("sig"));
        }
        let public_pem = public_pem_of(&jv).unwrap_or_else(|| jv.to_string());
        Ok(SigningKey {
            kid: kid.to_string(),
            alg,
            signer,
            decoding,
            jwk: jv,
            public_pem,
            stage,
        })
    }

    /// The jsonwebtoken algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self.alg {
            KeyAlg::RS256 => Algorithm::RS256,
            KeyAlg::ES256 => Algorithm::ES256,
        }
    }

    /// Whether the key is in the JWKS.
    pub fn published(&self) -> bool {
        matches!(self.stage, Stage::Active | Stage::Published)
    }
}

/// A private key parsed once, when it is loaded.
///
/// `jsonwebtoken::encode` takes an `EncodingKey`, which holds DER and parses it again (with
/// aws-lc's key checks) on every signature; that parse costs about as much as the RSA
/// signature itself. Minting signs with this instead: RS256 is RSASSA-PKCS1-v1_5 with SHA-256
/// and ES256 is ECDSA P-256 with SHA-256 in the fixed 64-byte form (RFC 7518 §3.3, §3.4).
pub enum Signer {
    /// RSA (RS256).
    Rsa(aws_lc_rs::rsa::KeyPair),
    /// ECDSA P-256 (ES256).
    Ec(aws_lc_rs::signature::EcdsaKeyPair),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Signer::Rsa(_) => "Signer::Rsa(..)",
            Signer::Ec(_) => "Signer::Ec(..)",
        })
    }
}

impl Signer {
    /// Parse a PEM private key: PKCS#8 (`PRIVATE KEY`) for both algorithms, or PKCS#1
    /// (`RSA PRIVATE KEY`) for RSA.
    pub fn from_pem(alg: KeyAlg, pem: &str) -> Result<Signer, String> {
        let (label, der) = pem_der(pem).ok_or("not a PEM private key")?;
        let bad = |e: aws_lc_rs::error::KeyRejected| format!("not a {alg:?} private key: {e}");
        match (alg, label.as_str()) {
            (KeyAlg::RS256, "RSA PRIVATE KEY") => Ok(Signer::Rsa(
                aws_lc_rs::rsa::KeyPair::from_der(&der).map_err(bad)?,
            )),
            (KeyAlg::RS256, _) => Ok(Signer::Rsa(
                aws_lc_rs::rsa::KeyPair::from_pkcs8(&der).map_err(bad)?,
            )),
            (KeyAlg::ES256, _) => Ok(Signer::Ec(
                aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
                    &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &der,
                )
                .map_err(bad)?,
            )),
        }
    }

    /// Sign `msg` (the JWS signing input, RFC 7515 §5.1); returns the raw signature.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match self {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|_| "RSA signing failed".to_string())?;
                Ok(sig)
            }
            Signer::Ec(k) => k
                .sign(&rng, msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA signing failed".to_string()),
        }
    }
}

/// The label and DER bytes of the first PEM block.
fn pem_der(pem: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine;
    let start = pem.find("-----BEGIN ")?;
    let rest = &pem[start + 11..];
    let label_end = rest.find("-----")?;
    let label = rest[..label_end].to_string();
    let body_start = label_end + 5;
    let end = rest.find("-----END ")?;
    let body: String = rest
        .get(body_start..end)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label, der))
}

/// SPKI PEM of an RSA JWK (for the alg-confusion flaw); `None` for EC keys.
fn public_pem_of(jwk: &Value) -> Option<String> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let n = b64.decode(jwk.get("n")?.as_str()?).ok()?;
    let e = b64.decode(jwk.get("e")?.as_str()?).ok()?;
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&n),
        rsa::BigUint::from_bytes_be(&e),
    )
    .ok()?;
    key.to_public_key_pem(LineEnding::LF).ok()
}

/// Generate a fresh RSA-2048 key (hundreds of milliseconds: call from `spawn_blocking`).
pub fn generate_rsa(kid: &str) -> Result<SigningKey, String> {
    let mut rng = rsa::rand_core::OsRng;
    let key = rsa::RsaPrivateKey::new(&mut rng, 2048)
        .map_err(|e| format!("RSA key generation failed: {e}"))?;
    let pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| e.to_string())?;
    SigningKey::from_pem(kid, KeyAlg::RS256, &pem, Stage::Active)
}

/// The project's keys.
#[derive(Debug)]
pub struct KeyRing {
    /// All keys, in configuration order, then rotated-in keys.
    keys: Vec<SigningKey>,
}

/// A rotation or retirement request that cannot be honoured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// No key has that `kid`.
    Unknown(String),
    /// The active key cannot be retired: rotate first.
    RetireActive(String),
    /// The `kid` is taken.
    Duplicate(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Unknown(k) => write!(f, "no key has kid {k:?}"),
            KeyError::RetireActive(k) => write!(
                f,
                "key {k:?} is the signing key; rotate to another key before retiring it"
            ),
            KeyError::Duplicate(k) => write!(f, "kid {k:?} is already in use"),
        }
    }
}

impl KeyRing {
    /// Load every configured key.
    pub fn from_config(cfg: &Config) -> Result<KeyRing, ConfigError> {
        let mut keys = Vec::with_capacity(cfg.keys.len());
        for (i, k) in cfg.keys.iter().enumerate() {
            let pem = cfg.read_pem(i)?;
            let stage = match k.state {
                KeyState::Active => Stage::Active,
                KeyState::Published => Stage::Published,
                KeyState::Spare => Stage::Spare,
            };
            let key =
                SigningKey::from_pem(&k.kid, k.alg, &pem, stage).map_err(|m| ConfigError {
                    file: cfg.source.clone(),
                    field: format!("keys[{i}].pem"),
                    message: format!("{}: {m}", k.pem),
                })?;
            keys.push(key);
        }
        Ok(KeyRing { keys })
    }

    /// The signing key.
    pub fn active(&self) -> &SigningKey {
        // from_config validated exactly one active key, and rotation keeps that invariant.
        self.keys
            .iter()
            .find(|k| k.stage == Stage::Active)
            .unwrap_or(&self.keys[0])
    }

    /// A published key by `kid`.
    pub fn published(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid && k.published())
    }

    /// The JWKS document: every published key.
    pub fn jwks(&self) -> Value {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.published())
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// Every key with its stage (control API).
    pub fn list(&self) -> Vec<Value> {
        self.keys
            .iter()
            .map(|k| json!({"kid": k.kid, "alg": format!("{:?}", k.alg), "stage": k.stage}))
            .collect()
    }

    /// Whether a spare key is available (otherwise rotation needs [`generate_rsa`]).
    pub fn has_spare(&self) -> bool {
        self.keys.iter().any(|k| k.stage == Stage::Spare)
    }

    /// Whether a kid is known in any stage.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid == kid)
    }

    /// Make the first spare (or `generated`) the active key; the old active key stays published.
    /// Returns (old kid, new kid).
    pub fn rotate(&mut self, generated: Option<SigningKey>) -> Result<(String, String), KeyError> {
        let idx = match generated {
            Some(k) => {
                if self.contains(&k.kid) {
                    return Err(KeyError::Duplicate(k.kid));
                }
                self.keys.push(k);
                self.keys.len() - 1
            }
            None => self
                .keys
                .iter()
                .position(|k| k.stage == Stage::Spare)
                .ok_or_else(|| KeyError::Unknown("<spare>".into()))?,
        };
        let old = self.active().kid.clone();
        for k in &mut self.keys {
            if k.stage == Stage::Active {
                k.stage = Stage::Published;
            }
        }
        self.keys[idx].stage = Stage::Active;
        Ok((old, self.keys[idx].kid.clone()))
    }

    /// Make a loaded key (published, spare or retired) the signing key again, published; the
    /// current signing key stays published. Undoes a rotation. Returns (old kid, new kid).
    pub fn activate(&mut self, kid: &str) -> Result<(String, String), KeyError> {
        let idx = self
            .keys
            .iter()
            .position(|k| k.kid == kid)
            .ok_or_else(|| KeyError::Unknown(kid.into()))?;
        let old = self.active().kid.clone();
        for k in &mut self.keys {
            if k.stage == Stage::Active {
                k.stage = Stage::Published;
            }
        }
        self.keys[idx].stage = Stage::Active;
        Ok((old, kid.to_string()))
    }

    /// Remove a key from the JWKS.
    pub fn retire(&mut self, kid: &str) -> Result<(), KeyError> {
        let k = self
            .keys
            .iter_mut()
            .find(|k| k.kid == kid)
            .ok_or_else(|| KeyError::Unknown(kid.into()))?;
        if k.stage == Stage::Active {
            return Err(KeyError::RetireActive(kid.into()));
        }
        k.stage = Stage::Retired;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;

    const RS: &str = include_str!("../../fixtures/keys/rs256-1.pem");
    const EC: &str = include_str!("../../fixtures/keys/es256-1.pem");

    /// A signature from the kept key verifies against the published JWK, for PKCS#8 and PKCS#1
    /// RSA PEM and for P-256.
    #[test]
    fn parsed_signers_verify_against_the_jwk() {
        let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(RS)
            .unwrap()
            .to_pkcs1_pem(LineEnding::LF)
            .unwrap();
        for (alg, pem) in [
            (KeyAlg::RS256, RS.to_string()),
            (KeyAlg::RS256, pkcs1.to_string()),
            (KeyAlg::ES256, EC.to_string()),
        ] {
            let key = SigningKey::from_pem("k1", alg, &pem, Stage::Active).unwrap();
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), json!("U1"));
            let ring = KeyRing { keys: vec![key] };
            let jwt = crate::tokens::sign(&ring, &claims, None).unwrap();
            let jwk: Jwk = serde_json::from_value(ring.active().jwk.clone()).unwrap();
            let mut v = jsonwebtoken::Validation::new(ring.active().algorithm());
            v.required_spec_claims.clear();
            v.validate_exp = false;
            v.validate_aud = false;
            let got =
                jsonwebtoken::decode::<Value>(&jwt, &DecodingKey::from_jwk(&jwk).unwrap(), &v)
                    .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
            assert_eq!(got.claims["sub"], "U1");
            assert_eq!(got.header.kid.as_deref(), Some("k1"));
        }
    }

    /// Text that is not a private key of the declared algorithm is refused with a reason.
    #[test]
    fn wrong_key_material_is_refused() {
        assert!(Signer::from_pem(KeyAlg::RS256, "no pem here").is_err());
        assert!(Signer::from_pem(KeyAlg::ES256, RS).is_err());
        assert!(Signer::from_pem(KeyAlg::RS256, EC).is_err());
    }
}
