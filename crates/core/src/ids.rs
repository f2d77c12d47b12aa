//! Validated identifiers: an account or gateway id is 1–64 chars of `[A-Za-z0-9_-]`.

use std::fmt;

/// Why an id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{what} must not be empty")]
    Empty { what: &'static str },
    #[error("{what} is longer than 64 characters")]
    TooLong { what: &'static str },
    #[error("{what} may only contain letters, digits, '_' and '-'")]
    BadChar { what: &'static str },
}

fn check(what: &'static str, s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty { what });
    }
    if s.len() > 64 {
        return Err(IdError::TooLong { what });
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(IdError::BadChar { what });
    }
    Ok(())
}

macro_rules! id_type {
    ($name:ident, $what:literal) => {
        #[doc = concat!("A validated ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            /// Validates `s` and wraps it.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                check($what, s)?;
                Ok(Self(s.to_owned()))
            }

            /// Checks `s` without allocating.
            pub fn validate(s: &str) -> Result<(), IdError> {
                check($what, s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                check($what, &s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::try_from(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(AccountId, "account id");
id_type!(GatewayId, "gateway id");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_the_documented_alphabet() {
        assert!(AccountId::parse("acct_1-A").is_ok());
        assert!(GatewayId::parse(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn refuses_everything_else() {
        assert_eq!(
            AccountId::parse(""),
            Err(IdError::Empty { what: "account id" })
        );
        assert!(matches!(
            GatewayId::parse(&"a".repeat(65)),
            Err(IdError::TooLong { .. })
        ));
        for bad in ["a b", "a/b", "a.b", "ü", "a%2e", "..", "a@b"] {
            assert!(GatewayId::parse(bad).is_err(), "{bad} must be refused");
        }
    }
}
