//! Field errors and name validation with Kubernetes' exact messages
//! (apimachinery/pkg/util/validation and field.Error).

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum ErrorType {
    Required,
    Invalid(Value),
    NotSupported(Value, Vec<String>),
    Forbidden,
    Duplicate(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorType,
    pub field: String,
    pub detail: String,
}

impl FieldError {
    pub fn required(field: &str, detail: &str) -> Self {
        Self {
            kind: ErrorType::Required,
            field: field.into(),
            detail: detail.into(),
        }
    }
    pub fn invalid(field: &str, value: Value, detail: &str) -> Self {
        Self {
            kind: ErrorType::Invalid(value),
            field: field.into(),
            detail: detail.into(),
        }
    }
    pub fn not_supported(field: &str, value: Value, supported: &[&str]) -> Self {
        Self {
            kind: ErrorType::NotSupported(value, supported.iter().map(|s| s.to_string()).collect()),
            field: field.into(),
            detail: String::new(),
        }
    }
    pub fn forbidden(field: &str, detail: &str) -> Self {
        Self {
            kind: ErrorType::Forbidden,
            field: field.into(),
            detail: detail.into(),
        }
    }

    /// The `reason` of a StatusCause (metav1.CauseType).
    pub fn cause_type(&self) -> &'static str {
        match self.kind {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid(_) => "FieldValueInvalid",
            ErrorType::NotSupported(..) => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::Duplicate(_) => "FieldValueDuplicate",
        }
    }

    /// The part after "field: " (field.Error.ErrorBody).
    pub fn body(&self) -> String {
        let with_detail = |s: String| {
            if self.detail.is_empty() {
                s
            } else {
                format!("{s}: {}", self.detail)
            }
        };
        match &self.kind {
            ErrorType::Required => with_detail("Required value".into()),
            ErrorType::Forbidden => with_detail("Forbidden".into()),
            ErrorType::Invalid(v) => with_detail(format!("Invalid value: {}", go_value(v))),
            ErrorType::Duplicate(v) => with_detail(format!("Duplicate value: {}", go_value(v))),
            ErrorType::NotSupported(v, sup) => {
                let quoted: Vec<String> = sup.iter().map(|s| format!("{s:?}")).collect();
                format!(
                    "Unsupported value: {}: supported values: {}",
                    go_value(v),
                    quoted.join(", ")
                )
            }
        }
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// How Go's `%#v`-ish formatting in field.Error prints common values.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".into(),
        // A []string prints with %#v: `[]string{"a", "b"}`.
        Value::Array(a) if !a.is_empty() && a.iter().all(Value::is_string) => {
            let items: Vec<String> = a.iter().filter_map(Value::as_str).map(|s| format!("{s:?}")).collect();
            format!("[]string{{{}}}", items.join(", "))
        }
        other => other.to_string(),
    }
}

const DNS1123_LABEL_FMT: &str = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";
const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character";

fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let (Some(&first), Some(&last)) = (b.first(), b.last()) else {
        return false;
    };
    let inner_ok = b
        .iter()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-');
    let first_ok = if first_alpha {
        first.is_ascii_lowercase()
    } else {
        first != b'-'
    };
    inner_ok && first_ok && last != b'-'
}

/// IsDNS1123Label: messages for every violation.
pub fn dns1123_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".into());
    }
    if !is_label(s, false) {
        errs.push(format!(
            "{DNS1123_LABEL_MSG} (e.g. 'my-name',  or '123-abc', regex used for validation is '{DNS1123_LABEL_FMT}')"
        ));
    }
    errs
}

/// IsDNS1123Subdomain.
pub fn dns1123_subdomain(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 253 {
        errs.push("must be no more than 253 characters".into());
    }
    if !s.split('.').all(|p| is_label(p, false)) {
        errs.push(format!(
            "{DNS1123_SUBDOMAIN_MSG} (e.g. 'example.com', regex used for validation is '{DNS1123_LABEL_FMT}(\\.{DNS1123_LABEL_FMT})*')"
        ));
    }
    errs
}

/// IsDNS1035Label.
pub fn dns1035_label(s: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if s.len() > 63 {
        errs.push("must be no more than 63 characters".into());
    }
    if !is_label(s, true) {
        errs.push(format!(
            "{DNS1035_LABEL_MSG} (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
        ));
    }
    errs
}

/// Which rule a resource's names follow.
#[derive(Debug, Clone, Copy)]
pub enum NameRule {
    Subdomain,
    Label,
    Dns1035,
    /// Path-segment safe only (events, leases' names are free-form-ish).
    PathSegment,
}

/// ValidateObjectMeta's name/namespace checks.
pub fn validate_meta(obj: &Value, rule: NameRule, namespaced: bool) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = crate::registry::meta::name(obj);
    let generate = crate::registry::meta::meta_str(obj, "generateName").unwrap_or("");
    if name.is_empty() {
        let e = if generate.is_empty() {
            FieldError::required("metadata.name", "name or generateName is required")
        } else {
            FieldError::required("metadata.name", "")
        };
        errs.push(e);
    } else {
        let msgs = match rule {
            NameRule::Subdomain => dns1123_subdomain(name),
            NameRule::Label => dns1123_label(name),
            NameRule::Dns1035 => dns1035_label(name),
            NameRule::PathSegment => crate::storage::keys::valid_path_segment(name)
                .err()
                .map(|e| vec![e])
                .unwrap_or_default(),
        };
        for m in msgs {
            errs.push(FieldError::invalid("metadata.name", Value::String(name.into()), &m));
        }
    }
    if namespaced {
        match crate::registry::meta::namespace(obj) {
            None => errs.push(FieldError::required("metadata.namespace", "")),
            Some(ns) => {
                for m in dns1123_label(ns) {
                    errs.push(FieldError::invalid("metadata.namespace", Value::String(ns.into()), &m));
                }
            }
        }
    } else if crate::registry::meta::namespace(obj).is_some() {
        errs.push(FieldError::forbidden("metadata.namespace", "not allowed on this type"));
    }
    if let Some(labels) = obj.pointer("/metadata/labels").and_then(Value::as_object) {
        for (k, v) in labels {
            if v.as_str().is_none_or(|s| s.len() > 63) {
                errs.push(FieldError::invalid(
                    "metadata.labels",
                    v.clone(),
                    "must be no more than 63 characters",
                ));
            }
            if k.is_empty() {
                errs.push(FieldError::invalid(
                    "metadata.labels",
                    Value::String(k.clone()),
                    "name part must be non-empty",
                ));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_follow_rfc1123() {
        assert!(dns1123_subdomain("a.b-c").is_empty());
        assert!(!dns1123_subdomain("Foo_bar").is_empty());
        assert!(dns1123_label("abc-1").is_empty());
        assert!(!dns1123_label("a.b").is_empty());
        assert!(!dns1035_label("1abc").is_empty());
    }

    #[test]
    fn messages_match_kubernetes() {
        let errs = validate_meta(
            &json!({"metadata":{"name":"Foo_bar","namespace":"default"}}),
            NameRule::Subdomain,
            true,
        );
        assert_eq!(errs.len(), 1);
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Invalid value: \"Foo_bar\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
        );
        let req = validate_meta(&json!({"metadata":{}}), NameRule::Label, false);
        assert_eq!(
            req[0].to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        let ns = FieldError::not_supported(
            "spec.restartPolicy",
            json!("Sometimes"),
            &["Always", "OnFailure", "Never"],
        );
        assert_eq!(
            ns.to_string(),
            "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\""
        );
    }
}
