//! What an upsert changes on a customer that matches: [`OnUpdate`], each field kept, set or
//! (where Plain allows it) cleared, serialized as Plain documents it.

use serde::de::{self, Deserializer};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

use super::EmailAddress;

/// What to do with a field Plain requires to have a value: keep it or set it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Update<T> {
    /// Leave the field as it is (the field is absent on the wire).
    #[default]
    Keep,
    /// Set the field to this value.
    Set(T),
}

impl<T> From<Option<T>> for Update<T> {
    /// `Some` sets the field, `None` keeps it.
    fn from(value: Option<T>) -> Self {
        value.map_or(Update::Keep, Update::Set)
    }
}

impl<T> ClearableUpdate<T> {
    /// `Some` sets the field, `None` clears it: a column of your own that may be `NULL`,
    /// mirrored as it is.
    pub fn set_or_clear(value: Option<T>) -> Self {
        value.map_or(ClearableUpdate::Clear, ClearableUpdate::Set)
    }
}

/// What to do with an optional field: keep it, set it, or clear it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClearableUpdate<T> {
    /// Leave the field as it is (the field is absent on the wire).
    #[default]
    Keep,
    /// Set the field to this value (`{"value": ...}` on the wire).
    Set(T),
    /// Remove the field's value (`{"value": null}` on the wire).
    Clear,
}

/// The changes Plain makes when a customer matches the identifier. The default changes
/// nothing (`{}` on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct OnUpdate {
    /// The full name: keep or set (Plain does not allow clearing it).
    pub full_name: Update<String>,
    /// The short name: keep, set or clear.
    pub short_name: ClearableUpdate<String>,
    /// The email address: keep or set.
    pub email: Update<EmailAddress>,
    /// Your own id for the customer: keep, set or clear.
    pub external_id: ClearableUpdate<String>,
}

impl OnUpdate {
    /// Changes nothing; add changes with the setters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the full name.
    #[must_use]
    pub fn full_name(mut self, full_name: impl Into<String>) -> Self {
        self.full_name = Update::Set(full_name.into());
        self
    }

    /// Sets the short name.
    #[must_use]
    pub fn short_name(mut self, short_name: impl Into<String>) -> Self {
        self.short_name = ClearableUpdate::Set(short_name.into());
        self
    }

    /// Clears the short name.
    #[must_use]
    pub fn clear_short_name(mut self) -> Self {
        self.short_name = ClearableUpdate::Clear;
        self
    }

    /// Sets the email address.
    #[must_use]
    pub fn email(mut self, email: EmailAddress) -> Self {
        self.email = Update::Set(email);
        self
    }

    /// Sets your own id for the customer.
    #[must_use]
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = ClearableUpdate::Set(external_id.into());
        self
    }

    /// Keeps, sets or clears the short name, as `change` says.
    #[must_use]
    pub fn with_short_name(mut self, change: ClearableUpdate<String>) -> Self {
        self.short_name = change;
        self
    }

    /// Keeps, sets or clears your own id for the customer, as `change` says.
    #[must_use]
    pub fn with_external_id(mut self, change: ClearableUpdate<String>) -> Self {
        self.external_id = change;
        self
    }

    /// Keeps or sets the full name, as `change` says.
    #[must_use]
    pub fn with_full_name(mut self, change: Update<String>) -> Self {
        self.full_name = change;
        self
    }

    /// Keeps or sets the email address, as `change` says.
    #[must_use]
    pub fn with_email(mut self, change: Update<EmailAddress>) -> Self {
        self.email = change;
        self
    }

    /// Clears your own id for the customer.
    #[must_use]
    pub fn clear_external_id(mut self) -> Self {
        self.external_id = ClearableUpdate::Clear;
        self
    }
}

/// Plain's `StringInput` and `OptionalStringInput` wrappers: `{"value": ...}`.
#[derive(Serialize)]
struct ValueRef<'a> {
    value: Option<&'a str>,
}

impl Serialize for OnUpdate {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Update::Set(name) = &self.full_name {
            map.serialize_entry("fullName", &ValueRef { value: Some(name) })?;
        }
        serialize_clearable(&mut map, "shortName", &self.short_name)?;
        if let Update::Set(email) = &self.email {
            map.serialize_entry("email", email)?;
        }
        serialize_clearable(&mut map, "externalId", &self.external_id)?;
        map.end()
    }
}

fn serialize_clearable<M: SerializeMap>(
    map: &mut M,
    key: &'static str,
    update: &ClearableUpdate<String>,
) -> Result<(), M::Error> {
    match update {
        ClearableUpdate::Keep => Ok(()),
        ClearableUpdate::Set(value) => map.serialize_entry(key, &ValueRef { value: Some(value) }),
        ClearableUpdate::Clear => map.serialize_entry(key, &ValueRef { value: None }),
    }
}

/// Distinguishes a field that is absent (outer `None`) from one that is `null`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequiredValue {
    value: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionalValue {
    #[serde(default, deserialize_with = "present")]
    value: Option<Option<String>>,
}

impl<'de> Deserialize<'de> for OnUpdate {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase", deny_unknown_fields)]
        struct Wire {
            #[serde(default, deserialize_with = "present")]
            full_name: Option<Option<RequiredValue>>,
            #[serde(default, deserialize_with = "present")]
            short_name: Option<Option<OptionalValue>>,
            #[serde(default, deserialize_with = "present")]
            email: Option<Option<EmailAddress>>,
            #[serde(default, deserialize_with = "present")]
            external_id: Option<Option<OptionalValue>>,
        }
        let wire = Wire::deserialize(deserializer)?;
        Ok(Self {
            full_name: update(wire.full_name.map(|v| v.map(|v| v.value)), "fullName")?,
            short_name: clearable(wire.short_name, "shortName")?,
            email: update(wire.email, "email")?,
            external_id: clearable(wire.external_id, "externalId")?,
        })
    }
}

fn update<T, E: de::Error>(field: Option<Option<T>>, name: &str) -> Result<Update<T>, E> {
    match field {
        None => Ok(Update::Keep),
        Some(Some(value)) => Ok(Update::Set(value)),
        Some(None) => Err(E::custom(format!(
            "`{name}` is null, which Plain does not accept: leave the field out to keep \
             the current value"
        ))),
    }
}

fn clearable<E: de::Error>(
    field: Option<Option<OptionalValue>>,
    name: &str,
) -> Result<ClearableUpdate<String>, E> {
    match field {
        None => Ok(ClearableUpdate::Keep),
        Some(None) => Err(E::custom(format!(
            "`{name}` is null: leave the field out to keep the current value, or send \
             {{\"value\": null}} to clear it"
        ))),
        Some(Some(OptionalValue { value: None })) => Err(E::custom(format!(
            "`{name}` has no `value`: send {{\"value\": \"...\"}} to set it or \
             {{\"value\": null}} to clear it"
        ))),
        Some(Some(OptionalValue { value: Some(None) })) => Ok(ClearableUpdate::Clear),
        Some(Some(OptionalValue {
            value: Some(Some(v)),
        })) => Ok(ClearableUpdate::Set(v)),
    }
}
