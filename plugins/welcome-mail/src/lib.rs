//! `welcome-mail`: an Eddy handler of the crud-audit example. Mails are simulated by events:
//! for each `<schema>.<entity>.create` event it emits one `mail.welcome.requested` event to
//! the stream named by the config `stream` (default `mails`), with the same subject and the
//! data `{"to": <data.email>, "name": <data.name>, "requested_by": <userid extension>}`.
//! Update and delete events emit nothing (the subscription's pattern `public.users.*` also
//! delivers them).
//!
//! Rejected (dead-lettered, not retried): a create without a string `email` in its data.

use guest_sdk::{Error, Event, Handler, Outgoing, config};
use serde::{Deserialize, Serialize};

/// The stream mails go to when `stream` is not configured.
pub const DEFAULT_STREAM: &str = "mails";

#[derive(Deserialize)]
struct Created {
    email: String,
    #[serde(default)]
    name: Option<String>,
}

/// The data of a `mail.welcome.requested` event.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct WelcomeMail {
    /// Where to send it.
    pub to: String,
    /// Whom to greet.
    pub name: Option<String>,
    /// The user who created the entity (the `userid` extension).
    pub requested_by: Option<String>,
}

/// The mail to ask for on `event`, if any.
pub fn mail_for(event: &Event, stream: &str) -> Result<Vec<Outgoing>, Error> {
    if !event.ty.ends_with(".create") {
        return Ok(Vec::new());
    }
    let created: Created = event.data_json().map_err(|err| {
        Error::reject(format!(
            "welcome-mail: {} {} has no string `email`: {err}",
            event.ty, event.id
        ))
    })?;
    let mut mail = Outgoing::new(stream, "mail.welcome.requested");
    if let Some(subject) = &event.subject {
        mail = mail.subject(subject.as_str());
    }
    let mail = mail.json(&WelcomeMail {
        to: created.email,
        name: created.name,
        requested_by: event.extension("userid").map(str::to_owned),
    })?;
    Ok(vec![mail])
}

/// The welcome-mail handler; configure the output stream with `stream`.
pub struct WelcomeMailHandler;

impl Handler for WelcomeMailHandler {
    fn handle_event(event: &Event) -> Result<Vec<Outgoing>, Error> {
        let stream = config::get("stream").unwrap_or_else(|| DEFAULT_STREAM.to_owned());
        mail_for(event, &stream)
    }
}

guest_sdk::export!(WelcomeMailHandler: Handler);

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ty: &str, data: &str) -> Event {
        Event {
            id: "e-1".into(),
            ty: ty.into(),
            subject: Some("users/1".into()),
            data: Some(data.as_bytes().to_vec()),
            extensions: vec![("userid".into(), "admin".into())],
            ..Event::default()
        }
    }

    #[test]
    fn a_created_user_gets_one_welcome_mail() {
        let out = mail_for(
            &event(
                "public.users.create",
                r#"{"email":"ada@example.com","name":"Ada"}"#,
            ),
            "mails",
        )
        .unwrap();
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn updates_and_deletes_send_nothing() {
        for ty in ["public.users.update", "public.users.delete"] {
            assert!(mail_for(&event(ty, "{}"), "mails").unwrap().is_empty());
        }
    }

    #[test]
    fn a_create_without_an_email_is_rejected() {
        assert!(mail_for(&event("public.users.create", "{}"), "mails").is_err());
    }
}
