//! Macros for guest-sdk (in progress).
