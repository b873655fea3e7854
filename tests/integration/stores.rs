//! Object stores: placeholder replaced by the store tests.
