//! Test fixture `fx-unknown-import`: a reducer of the `eddy:plugin/reducer` world that also
//! imports `fx:vault/secrets`, an interface Eddy does not provide, so the host must refuse
//! to load it and name the import.

// The generated bindings and their exports are `unsafe` by nature.
#![allow(unsafe_code)]

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        inline: "
            package fx:vault;
            interface secrets {
                get: func(key: string) -> string;
            }
            world reducer-with-secrets {
                include eddy:plugin/reducer@0.1.1;
                import secrets;
            }
        ",
        world: "fx:vault/reducer-with-secrets",
        generate_all,
    });
}

use bindings::eddy::plugin::types::{Error, Event};

struct UnknownImport;

impl bindings::Guest for UnknownImport {
    fn init() -> Vec<u8> {
        b"{}".to_vec()
    }

    fn apply_event(_state: Vec<u8>, event: Event) -> Result<Vec<u8>, Error> {
        // Uses the import, so that it stays in the component.
        Ok(bindings::fx::vault::secrets::get(&event.id).into_bytes())
    }
}

bindings::export!(UnknownImport with_types_in bindings);
