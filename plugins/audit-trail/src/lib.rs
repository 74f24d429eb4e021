//! `audit-trail`: an Eddy reducer of the crud-audit example. Per entity (the event's subject,
//! e.g. `users/42`) it keeps an audit trail of `<schema>.<entity>.<operation>` events: who
//! (the `userid` extension), from which session (`sessionid`) and service instance
//! (`instanceid`), when, and the operation; plus the entity's last data and whether it is
//! deleted.
//!
//! State: `{"entity": "public.users", "operations": 0, "deleted": false, "data": null,
//! "trail": [{"operation", "user", "session", "instance", "time", "event"}]}`. Events whose
//! type is not three dot-separated parts are ignored (counted in `ignored`).

use guest_sdk::{Error, Event, Reducer};
use serde::{Deserialize, Serialize};

/// One audited operation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    /// `create`, `update`, `delete` (or any other operation name).
    pub operation: String,
    /// Who did it (`userid`).
    pub user: Option<String>,
    /// From which session (`sessionid`).
    pub session: Option<String>,
    /// Which service instance published it (`instanceid`).
    pub instance: Option<String>,
    /// When (the event's time).
    pub time: Option<String>,
    /// The event's id.
    pub event: String,
}

/// The audit state of one entity.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Audit {
    /// `<schema>.<entity>`, e.g. `public.users`.
    pub entity: Option<String>,
    /// Operations audited.
    pub operations: u64,
    /// Whether the last operation was a delete.
    pub deleted: bool,
    /// The data of the last create or update; a delete clears it.
    pub data: Option<serde_json::Value>,
    /// Every operation, oldest first.
    pub trail: Vec<Entry>,
    /// Events that were not CRUD events.
    pub ignored: u64,
}

/// Folds one event into `audit`.
pub fn apply(audit: &mut Audit, event: &Event) {
    let mut parts = event.ty.rsplitn(2, '.');
    let (Some(operation), Some(entity)) = (parts.next(), parts.next()) else {
        audit.ignored += 1;
        return;
    };
    if !entity.contains('.') {
        audit.ignored += 1;
        return;
    }
    audit.entity = Some(entity.to_owned());
    audit.operations += 1;
    audit.deleted = operation == "delete";
    if !audit.deleted {
        if let Ok(data) = event.data_json::<serde_json::Value>() {
            audit.data = Some(data);
        }
    } else {
        audit.data = None;
    }
    let ext = |name: &str| event.extension(name).map(str::to_owned);
    audit.trail.push(Entry {
        operation: operation.to_owned(),
        user: ext("userid"),
        session: ext("sessionid"),
        instance: ext("instanceid"),
        time: event.time.clone(),
        event: event.id.clone(),
    });
}

/// The audit reducer.
pub struct CrudAudit;

impl Reducer for CrudAudit {
    type State = Audit;

    fn init() -> Audit {
        Audit::default()
    }

    fn apply_event(audit: &mut Audit, event: &Event) -> Result<(), Error> {
        apply(audit, event);
        Ok(())
    }
}

guest_sdk::export!(CrudAudit: Reducer);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, ty: &str, data: &str) -> Event {
        Event {
            id: id.into(),
            ty: ty.into(),
            subject: Some("users/1".into()),
            data: Some(data.as_bytes().to_vec()),
            extensions: vec![
                ("userid".into(), "admin".into()),
                ("sessionid".into(), "s-9".into()),
                ("instanceid".into(), "api-1".into()),
            ],
            ..Event::default()
        }
    }

    #[test]
    fn the_trail_records_who_did_what_and_a_delete_clears_the_data() {
        let mut audit = Audit::default();
        apply(
            &mut audit,
            &event("1", "public.users.create", r#"{"name":"Ada"}"#),
        );
        apply(
            &mut audit,
            &event("2", "public.users.update", r#"{"name":"Ada L."}"#),
        );
        assert_eq!(audit.data, Some(serde_json::json!({"name": "Ada L."})));
        apply(&mut audit, &event("3", "public.users.delete", "{}"));
        assert!(audit.deleted && audit.data.is_none());
        assert_eq!(audit.operations, 3);
        assert_eq!(audit.entity.as_deref(), Some("public.users"));
        let ops: Vec<_> = audit.trail.iter().map(|e| e.operation.as_str()).collect();
        assert_eq!(ops, ["create", "update", "delete"]);
        assert_eq!(audit.trail[0].user.as_deref(), Some("admin"));
        assert_eq!(audit.trail[0].session.as_deref(), Some("s-9"));
        assert_eq!(audit.trail[0].instance.as_deref(), Some("api-1"));
    }

    #[test]
    fn other_events_are_ignored() {
        let mut audit = Audit::default();
        apply(&mut audit, &event("1", "users.create", "{}"));
        apply(&mut audit, &event("2", "ping", "{}"));
        assert_eq!((audit.ignored, audit.operations), (2, 0));
    }
}
