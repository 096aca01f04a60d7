//! batch/v1 Job and batch/v1beta1 CronJob: spec defaults as Kubernetes 1.20, the generated
//! `controller-uid` selector and template labels of a Job, restartPolicy and schedule
//! validation, tables as kubectl shows them.

use serde_json::{json, Value};

use super::pod::{default_pod_spec, validate_pod_spec};
use super::{age, col, default_at, n, s, Column, GcPolicy, Strategy, AGE, NAME};
use crate::registry::validation::FieldError;

/// Job defaults: parallelism and completions 1, backoffLimit 6, and (unless
/// `spec.manualSelector`) the selector `controller-uid=<uid>` with the template labelled
/// `controller-uid` and `job-name`, as the job strategy's generateSelector.
pub fn default_job(obj: &mut Value) {
    default_at(obj, "/spec/parallelism", json!(1));
    if obj.pointer("/spec/completions").is_none_or(Value::is_null) {
        obj["spec"]["completions"] = json!(1);
    }
    default_at(obj, "/spec/backoffLimit", json!(6));
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        // As in Kubernetes, the pod defaults give an absent restartPolicy "Always", which
        // validation then refuses for a Job.
        default_pod_spec(spec);
    }
    default_at(obj, "/spec/template/metadata/creationTimestamp", Value::Null);
}

fn generate_selector(obj: &mut Value) {
    if obj.pointer("/spec/manualSelector").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let uid = s(obj, "/metadata/uid").to_string();
    let name = s(obj, "/metadata/name").to_string();
    if uid.is_empty() {
        return;
    }
    obj["spec"]["selector"] = json!({"matchLabels": {"controller-uid": uid}});
    let labels = &mut obj["spec"]["template"]["metadata"]["labels"];
    if !labels.is_object() {
        *labels = json!({});
    }
    labels["controller-uid"] = json!(uid);
    labels["job-name"] = json!(name);
}

pub struct JobStrategy;

impl Strategy for JobStrategy {
    /// batch/v1 Jobs orphan their pods unless told otherwise (kube keeps this for backward
    /// compatibility; kubectl always sends a policy).
    fn default_gc_policy(&self) -> GcPolicy {
        GcPolicy::OrphanDependents
    }
    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
        generate_selector(obj);
        obj["status"] = json!({});
    }
    fn defaults(&self, obj: &mut Value) {
        default_job(obj);
    }
    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        self.defaults(new);
        // The selector and the template of a Job are immutable once set.
        if let Some(sel) = old.pointer("/spec/selector") {
            if new.pointer("/spec/selector").is_none_or(Value::is_null) {
                new["spec"]["selector"] = sel.clone();
            }
        }
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        match obj.pointer("/spec/template/spec") {
            Some(spec) => errs.extend(validate_pod_spec(spec, "spec.template.spec")),
            None => errs.push(FieldError::required("spec.template.spec.containers", "")),
        }
        let rp = s(obj, "/spec/template/spec/restartPolicy");
        if rp != "OnFailure" && rp != "Never" {
            errs.push(FieldError::not_supported(
                "spec.template.spec.restartPolicy",
                json!(rp),
                &["OnFailure", "Never"],
            ));
        }
        for f in ["parallelism", "completions", "backoffLimit"] {
            if n(obj, &format!("/spec/{f}")) < 0 {
                errs.push(FieldError::invalid(
                    &format!("spec.{f}"),
                    obj.pointer(&format!("/spec/{f}")).cloned().unwrap_or(Value::Null),
                    "must be greater than or equal to 0",
                ));
            }
        }
        errs
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Completions", "string", 0),
            col("Duration", "string", 0),
            AGE,
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(c) => format!("{}/{c}", n(obj, "/status/succeeded")),
            None => format!("{}/1 of {}", n(obj, "/status/succeeded"), n(obj, "/spec/parallelism")),
        };
        let duration = duration(obj);
        let (names, images) = super::workloads::containers_images(obj);
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(completions),
            json!(duration),
            json!(age(obj)),
            json!(names),
            json!(images),
            json!(super::workloads::selector_text(obj)),
        ]
    }
}

/// kubectl's Duration column: start to completion (or to now while running).
fn duration(obj: &Value) -> String {
    let start = s(obj, "/status/startTime");
    if start.is_empty() {
        return String::new();
    }
    let Ok(t0) = chrono::DateTime::parse_from_rfc3339(start) else {
        return String::new();
    };
    let t1 = chrono::DateTime::parse_from_rfc3339(s(obj, "/status/completionTime"))
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or_else(|_| chrono::Utc::now());
    let secs = (t1 - t0.with_timezone(&chrono::Utc)).num_seconds().max(0);
    if secs < 120 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else {
        format!("{}h", secs / 3600)
    }
}

pub struct CronJobStrategy;

impl Strategy for CronJobStrategy {
    fn prepare_for_create(&self, obj: &mut Value) {
        self.defaults(obj);
        obj["status"] = json!({});
    }
    fn defaults(&self, obj: &mut Value) {
        default_at(obj, "/spec/concurrencyPolicy", json!("Allow"));
        default_at(obj, "/spec/suspend", json!(false));
        default_at(obj, "/spec/successfulJobsHistoryLimit", json!(3));
        default_at(obj, "/spec/failedJobsHistoryLimit", json!(1));
        if let Some(spec) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
            default_pod_spec(spec);
        }
    }
    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let schedule = s(obj, "/spec/schedule");
        if schedule.is_empty() {
            errs.push(FieldError::required("spec.schedule", ""));
        } else if schedule.split_whitespace().count() != 5 && !schedule.starts_with('@') {
            errs.push(FieldError::invalid(
                "spec.schedule",
                json!(schedule),
                &format!(
                    "Expected exactly 5 fields, found {}: {schedule}",
                    schedule.split_whitespace().count()
                ),
            ));
        }
        match obj.pointer("/spec/jobTemplate/spec/template/spec") {
            Some(spec) => errs.extend(validate_pod_spec(spec, "spec.jobTemplate.spec.template.spec")),
            None => errs.push(FieldError::required(
                "spec.jobTemplate.spec.template.spec.containers",
                "",
            )),
        }
        errs
    }
    fn tracks_generation(&self) -> bool {
        true
    }
    fn columns(&self) -> Vec<Column> {
        vec![
            NAME,
            col("Schedule", "string", 0),
            col("Suspend", "boolean", 0),
            col("Active", "integer", 0),
            col("Last Schedule", "date", 0),
            AGE,
        ]
    }
    fn cells(&self, obj: &Value) -> Vec<Value> {
        let active = obj
            .pointer("/status/active")
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        let last = s(obj, "/status/lastScheduleTime");
        vec![
            json!(crate::registry::meta::name(obj)),
            json!(s(obj, "/spec/schedule")),
            json!(obj.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false)),
            json!(active),
            json!(if last.is_empty() {
                "<none>".to_string()
            } else {
                crate::registry::meta::human_age(Some(last))
            }),
            json!(age(obj)),
        ]
    }
}
