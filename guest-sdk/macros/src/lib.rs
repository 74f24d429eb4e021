//! The procedural half of `guest_sdk::export!`. Plugin authors use `guest-sdk`, never this crate.
//!
//! Why a proc-macro at all: `wit-bindgen`'s `generate!` must see the WIT text, and a plugin crate
//! cannot point it at a path (it does not know where the SDK's `wit/` folder is). So this crate
//! embeds `wit/plugin.wit` at its own compile time and hands it to `generate!` inline.
//!
//! Why only one world per plugin: `generate!` embeds a `component-type` custom section per world,
//! and `wit-component` merges every such section of a module into one world whose exports are all
//! required. So the bindings are generated in the plugin crate, for exactly the kind it exports.
//!
//! The crate has no dependencies: the output is built as text and parsed.

use proc_macro::TokenStream;

/// The WIT contract, embedded so that it travels with the macro.
const PLUGIN_WIT: &str = include_str!("../../../wit/plugin.wit");

/// Expands to the bindings and glue of one batched plugin world (for `reducer`, `filter` or
/// `handler`) for the type alias `__EddyPlugin` in scope; invoked only by `guest_sdk::export!`.
#[doc(hidden)]
#[proc_macro]
pub fn __export_world(input: TokenStream) -> TokenStream {
    let kind = input.to_string();
    let glue = match kind.trim() {
        "reducer" => REDUCER_GLUE.to_string(),
        "filter" => format!("{EVENTS_GLUE}{FILTER_GLUE}"),
        "handler" => format!("{EVENTS_GLUE}{HANDLER_GLUE}"),
        other => {
            return compile_error(&format!(
                "guest-sdk-macros: unknown plugin kind `{other}` (expected reducer, filter or \
                 handler); use `guest_sdk::export!` instead of this macro"
            ));
        }
    };
    // Reducers take the packed form (the events of a call in one buffer, the fastest to cross
    // into WebAssembly); filters and handlers the batched form.
    let world = match kind.trim() {
        "reducer" => "reducer-packed".to_string(),
        other => format!("{other}-batch"),
    };
    let code = format!(
        r#"
        #[doc(hidden)]
        #[allow(dead_code, unused, missing_docs, unsafe_code, clippy::all, clippy::pedantic)]
        mod __eddy_bindings {{
            ::guest_sdk::__private::wit_bindgen::generate!({{
                inline: {wit},
                world: "eddy:plugin/{world}",
                runtime_path: "::guest_sdk::__private::wit_bindgen::rt",
            }});
        }}

        #[doc(hidden)]
        struct __EddyGlue;

        {COMMON_GLUE}
        {glue}

        __eddy_bindings::export!(__EddyGlue with_types_in __eddy_bindings);
        "#,
        wit = raw_string_literal(PLUGIN_WIT),
    );
    code.parse()
        .unwrap_or_else(|err| compile_error(&format!("guest-sdk-macros: internal error: {err}")))
}

/// Host imports, wrapped into the SDK's function table, and the batch error conversion.
///
/// Every export calls `install_host` first so that `guest_sdk::{log, config}` work from the
/// user's code, including from `Reducer::init`.
const COMMON_GLUE: &str = r#"
    fn __eddy_log(level: ::guest_sdk::log::Level, message: &str) {
        use __eddy_bindings::eddy::plugin::log as host;
        let level = match level {
            ::guest_sdk::log::Level::Trace => host::Level::Trace,
            ::guest_sdk::log::Level::Debug => host::Level::Debug,
            ::guest_sdk::log::Level::Info => host::Level::Info,
            ::guest_sdk::log::Level::Warn => host::Level::Warn,
            ::guest_sdk::log::Level::Error => host::Level::Error,
        };
        host::log(level, message);
    }

    fn __eddy_config_get(key: &str) -> ::std::option::Option<::std::string::String> {
        __eddy_bindings::eddy::plugin::config::get(key)
    }

    fn __eddy_config_all() -> ::std::vec::Vec<(::std::string::String, ::std::string::String)> {
        __eddy_bindings::eddy::plugin::config::get_all()
    }

    fn __eddy_enter_event(index: u32) {
        __eddy_bindings::eddy::plugin::batch_context::enter_event(index);
    }

    fn __eddy_install_host() {
        ::guest_sdk::__private::install_host(::guest_sdk::__private::HostFns {
            log: __eddy_log,
            config_get: __eddy_config_get,
            config_all: __eddy_config_all,
            enter_event: __eddy_enter_event,
        });
    }

    fn __eddy_batch_error(
        failure: ::guest_sdk::__private::BatchFailure,
    ) -> __eddy_bindings::eddy::plugin::types::BatchError {
        use __eddy_bindings::eddy::plugin::types::Error as WitError;
        let error = match failure.error {
            ::guest_sdk::Error::Retry(message) => WitError::Retry(message),
            ::guest_sdk::Error::Reject(message) => WitError::Reject(message),
        };
        __eddy_bindings::eddy::plugin::types::BatchError { index: failure.index, error }
    }
"#;

/// The conversion of a `list<event>` into the SDK's events (filters and handlers).
const EVENTS_GLUE: &str = r#"
    // Moves every field: no string or payload is copied on the way in.
    fn __eddy_events(
        events: ::std::vec::Vec<__eddy_bindings::eddy::plugin::types::Event>,
    ) -> ::std::vec::Vec<::guest_sdk::Event> {
        events
            .into_iter()
            .map(|e| ::guest_sdk::Event {
                id: e.id,
                source: e.source,
                ty: e.type_,
                specversion: e.specversion,
                subject: e.subject,
                time: e.time,
                datacontenttype: e.datacontenttype,
                dataschema: e.dataschema,
                data: e.data,
                extensions: e.extensions,
                stream: e.stream,
                position: e.position,
            })
            .collect()
    }
"#;

const REDUCER_GLUE: &str = r#"
    impl __eddy_bindings::Guest for __EddyGlue {
        fn init() -> ::std::vec::Vec<u8> {
            __eddy_install_host();
            ::guest_sdk::__private::reducer_init::<__EddyPlugin>()
        }

        fn apply_packed_events(
            state: ::std::vec::Vec<u8>,
            events: ::std::vec::Vec<u8>,
        ) -> ::std::result::Result<
            ::std::vec::Vec<u8>,
            __eddy_bindings::eddy::plugin::types::BatchError,
        > {
            __eddy_install_host();
            ::guest_sdk::__private::reducer_apply_packed_events::<__EddyPlugin>(&state, &events)
                .map_err(__eddy_batch_error)
        }
    }
"#;

const FILTER_GLUE: &str = r#"
    impl __eddy_bindings::Guest for __EddyGlue {
        fn filter_events(
            events: ::std::vec::Vec<__eddy_bindings::eddy::plugin::types::Event>,
        ) -> ::std::result::Result<
            ::std::vec::Vec<bool>,
            __eddy_bindings::eddy::plugin::types::BatchError,
        > {
            __eddy_install_host();
            let events = __eddy_events(events);
            ::guest_sdk::__private::filter_events::<__EddyPlugin>(&events)
                .map_err(__eddy_batch_error)
        }
    }
"#;

const HANDLER_GLUE: &str = r#"
    impl __eddy_bindings::Guest for __EddyGlue {
        fn handle_events(
            events: ::std::vec::Vec<__eddy_bindings::eddy::plugin::types::Event>,
        ) -> ::std::result::Result<
            ::std::vec::Vec<::std::vec::Vec<__eddy_bindings::eddy::plugin::types::OutgoingEvent>>,
            __eddy_bindings::eddy::plugin::types::BatchError,
        > {
            __eddy_install_host();
            let events = __eddy_events(events);
            let per_event = ::guest_sdk::__private::handle_events::<__EddyPlugin>(&events)
                .map_err(__eddy_batch_error)?;
            ::std::result::Result::Ok(
                per_event
                    .into_iter()
                    .map(|outgoing| {
                        outgoing
                            .into_iter()
                            .map(|o| {
                                __eddy_bindings::eddy::plugin::types::OutgoingEvent {
                                    stream: o.stream,
                                    type_: o.ty,
                                    subject: o.subject,
                                    source: o.source,
                                    datacontenttype: o.datacontenttype,
                                    dataschema: o.dataschema,
                                    data: o.data,
                                    extensions: o.extensions,
                                }
                            })
                            .collect()
                    })
                    .collect(),
            )
        }
    }
"#;

/// `text` as a raw string literal, with enough `#`s that no `"#…` inside can close it.
fn raw_string_literal(text: &str) -> String {
    let mut hashes = 1;
    while text.contains(&format!("\"{}", "#".repeat(hashes))) {
        hashes += 1;
    }
    let fence = "#".repeat(hashes);
    format!("r{fence}\"{text}\"{fence}")
}

fn compile_error(message: &str) -> TokenStream {
    format!("::core::compile_error!({message:?});")
        .parse()
        .expect("a compile_error! invocation always parses")
}
