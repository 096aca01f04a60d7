//! Certificate signing requests, as kube-controller-manager's csrapproving and csrsigning:
//! a kubelet's client-certificate request (signer
//! `kubernetes.io/kube-apiserver-client-kubelet`, subject `O=system:nodes,
//! CN=system:node:<name>`, client-auth usages) from a bootstrap token or from that node
//! itself is approved; approved requests of the built-in signers are signed with
//! `--cluster-signing-cert-file/--cluster-signing-key-file`.

use std::path::Path;

use base64::Engine;
use serde_json::{json, Value};
use x509_parser::prelude::FromDer;

use super::util::{name, s};
use super::Action;

const KUBELET_CLIENT: &str = "kubernetes.io/kube-apiserver-client-kubelet";
/// Signers this controller issues for.
const SIGNERS: &[&str] = &[
    KUBELET_CLIENT,
    "kubernetes.io/kube-apiserver-client",
    "kubernetes.io/kubelet-serving",
];
/// Validity of issued certificates (kube-controller-manager's default: a year).
const VALID_DAYS: i64 = 365;

/// The cluster CA that signs approved requests.
pub struct Signer {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
}

impl Signer {
    pub fn load(cert: &Path, key: &Path) -> anyhow::Result<Signer> {
        let key = rcgen::KeyPair::from_pem(&std::fs::read_to_string(key)?)?;
        let issuer = rcgen::Issuer::from_ca_cert_pem(&std::fs::read_to_string(cert)?, key)?;
        Ok(Signer { issuer })
    }

    /// A certificate (PEM) for the request `csr_pem` with `usages` (Kubernetes' names).
    pub fn sign(&self, csr_pem: &str, usages: &[&str]) -> Result<String, String> {
        let mut req = rcgen::CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| e.to_string())?;
        let now = time::OffsetDateTime::now_utc();
        let p = &mut req.params;
        p.not_before = now - time::Duration::minutes(5);
        p.not_after = now + time::Duration::days(VALID_DAYS);
        p.is_ca = rcgen::IsCa::ExplicitNoCa;
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&rand_serial()));
        p.key_usages = Vec::new();
        p.extended_key_usages = Vec::new();
        for u in usages {
            match *u {
                "digital signature" => p.key_usages.push(rcgen::KeyUsagePurpose::DigitalSignature),
                "key encipherment" => p.key_usages.push(rcgen::KeyUsagePurpose::KeyEncipherment),
                "client auth" => p.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => p.extended_key_usages.push(rcgen::ExtendedKeyUsagePurpose::ServerAuth),
                _ => {}
            }
        }
        let cert = req.signed_by(&self.issuer).map_err(|e| e.to_string())?;
        Ok(cert.pem())
    }
}

fn rand_serial() -> [u8; 16] {
    let mut b = [0u8; 16];
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0) as u128;
    let mixed = nanos ^ (u128::from(std::process::id()) << 64);
    b.copy_from_slice(&mixed.to_be_bytes());
    b[0] &= 0x7f; // a positive INTEGER
    b
}

/// The PEM request in `spec.request` (base64 of the PEM bytes, as JSON carries []byte).
fn request_pem(csr: &Value) -> Option<String> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(s(csr, "/spec/request"))
        .ok()?;
    String::from_utf8(raw).ok()
}

/// (CN, organizations) of a PEM certificate request.
fn subject(pem: &str) -> Option<(String, Vec<String>)> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).ok()?;
    let (_, req) = x509_parser::certification_request::X509CertificationRequest::from_der(&block.contents).ok()?;
    let subj = &req.certification_request_info.subject;
    let cn = subj.iter_common_name().next()?.as_str().ok()?.to_string();
    let orgs = subj
        .iter_organization()
        .filter_map(|o| o.as_str().ok().map(String::from))
        .collect();
    Some((cn, orgs))
}

fn has_condition(csr: &Value, kind: &str) -> bool {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| s(c, "/type") == kind && s(c, "/status") == "True"))
}

fn usages(csr: &Value) -> Vec<&str> {
    csr.pointer("/spec/usages")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// Whether this is a kubelet asking for its own client certificate.
fn is_kubelet_client_request(csr: &Value) -> bool {
    if s(csr, "/spec/signerName") != KUBELET_CLIENT {
        return false;
    }
    let Some((cn, orgs)) = request_pem(csr).as_deref().and_then(subject) else {
        return false;
    };
    let us = usages(csr);
    let usages_ok = us.contains(&"client auth")
        && us
            .iter()
            .all(|u| matches!(*u, "digital signature" | "key encipherment" | "client auth"));
    let groups: Vec<&str> = csr
        .pointer("/spec/groups")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let requester_ok = groups.contains(&"system:bootstrappers") || s(csr, "/spec/username") == cn;
    cn.starts_with("system:node:") && orgs == ["system:nodes"] && usages_ok && requester_ok
}

/// Actions for one CSR: approve a kubelet's client request, sign an approved one.
pub fn reconcile(csr: &Value, signer: Option<&Signer>) -> Vec<Action> {
    let path = format!("/apis/certificates.k8s.io/v1/certificatesigningrequests/{}", name(csr));
    let denied = has_condition(csr, "Denied") || has_condition(csr, "Failed");
    let issued = !s(csr, "/status/certificate").is_empty();
    if denied || issued {
        return Vec::new();
    }
    if !has_condition(csr, "Approved") {
        if !is_kubelet_client_request(csr) {
            return Vec::new();
        }
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let mut approved = csr.clone();
        approved["status"]["conditions"] = json!([{
            "type": "Approved", "status": "True", "reason": "AutoApproved",
            "message": "Auto approving kubelet client certificate after SubjectAccessReview.",
            "lastUpdateTime": now, "lastTransitionTime": now,
        }]);
        return vec![Action::Update {
            path: format!("{path}/approval"),
            obj: approved,
        }];
    }
    let Some(signer) = signer else {
        return Vec::new();
    };
    if !SIGNERS.contains(&s(csr, "/spec/signerName")) {
        return Vec::new();
    }
    let mut done = csr.clone();
    match request_pem(csr)
        .ok_or_else(|| "spec.request is not a PEM request".to_string())
        .and_then(|pem| signer.sign(&pem, &usages(csr)))
    {
        Ok(cert) => done["status"]["certificate"] = json!(base64::engine::general_purpose::STANDARD.encode(cert)),
        Err(e) => {
            let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let mut conds = csr
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            conds.push(
                json!({"type": "Failed", "status": "True", "reason": "SignerValidationFailure",
                "message": e, "lastUpdateTime": now, "lastTransitionTime": now}),
            );
            done["status"]["conditions"] = json!(conds);
        }
    }
    vec![Action::Update {
        path: format!("{path}/status"),
        obj: done,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(cn: &str, org: &str) -> String {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, cn);
        params.distinguished_name.push(rcgen::DnType::OrganizationName, org);
        params.serialize_request(&key).expect("csr").pem().expect("pem")
    }

    fn csr(pem: &str, user: &str, groups: &[&str]) -> Value {
        json!({"metadata": {"name": "node-csr-1"},
            "spec": {"request": base64::engine::general_purpose::STANDARD.encode(pem), "signerName": KUBELET_CLIENT,
                "usages": ["digital signature", "key encipherment", "client auth"], "username": user, "groups": groups},
            "status": {}})
    }

    fn ca(dir: &Path) -> Signer {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(rcgen::DnType::CommonName, "test-ca");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("ca");
        std::fs::write(dir.join("ca.crt"), cert.pem()).expect("write");
        std::fs::write(dir.join("ca.key"), key.serialize_pem()).expect("write");
        Signer::load(&dir.join("ca.crt"), &dir.join("ca.key")).expect("load")
    }

    #[test]
    fn kubelet_requests_are_approved_then_signed() {
        let pem = request("system:node:n1", "system:nodes");
        let c = csr(
            &pem,
            "system:bootstrap:abcdef",
            &["system:bootstrappers", "system:authenticated"],
        );
        let a = reconcile(&c, None);
        let Some(Action::Update { path, obj }) = a.first() else {
            panic!("no approval: {a:?}")
        };
        assert!(path.ends_with("/node-csr-1/approval"));
        assert_eq!(obj["status"]["conditions"][0]["type"], "Approved");
        let dir = tempfile::tempdir().expect("dir");
        let signer = ca(dir.path());
        let a = reconcile(obj, Some(&signer));
        let Some(Action::Update { path, obj }) = a.first() else {
            panic!("not signed: {a:?}")
        };
        assert!(path.ends_with("/status"));
        let cert = base64::engine::general_purpose::STANDARD
            .decode(obj["status"]["certificate"].as_str().expect("certificate"))
            .expect("base64");
        let (_, block) = x509_parser::pem::parse_x509_pem(&cert).expect("pem");
        let (_, x) = x509_parser::parse_x509_certificate(&block.contents).expect("x509");
        assert_eq!(
            x.subject().iter_common_name().next().and_then(|c| c.as_str().ok()),
            Some("system:node:n1")
        );
        assert_eq!(
            x.issuer().iter_common_name().next().and_then(|c| c.as_str().ok()),
            Some("test-ca")
        );
        // Issued: nothing more to do.
        assert!(reconcile(obj, Some(&signer)).is_empty());
    }

    #[test]
    fn other_requests_wait_for_a_human() {
        // Someone else's node name, from a node that is not a bootstrapper.
        let pem = request("system:node:n2", "system:nodes");
        assert!(reconcile(&csr(&pem, "system:node:n1", &["system:nodes"]), None).is_empty());
        // Not the nodes group.
        let pem = request("system:node:n1", "system:masters");
        assert!(reconcile(&csr(&pem, "system:bootstrap:abcdef", &["system:bootstrappers"]), None).is_empty());
        // A node renewing its own certificate is fine.
        let pem = request("system:node:n1", "system:nodes");
        assert_eq!(
            reconcile(&csr(&pem, "system:node:n1", &["system:nodes"]), None).len(),
            1
        );
    }
}
