//! The whole `Store` contract (`store::contract`) on `MemoryStore`, the reference
//! semantics every other store is held to.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use vipps_login_core::MemoryStore;
use vipps_login_core::store::contract;

macro_rules! on_the_memory_store {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $case() {
                contract::$case(Arc::new(MemoryStore::new())).await;
            }
        )*

        /// A case added to the contract and not to this list fails here.
        #[test]
        fn every_case_is_run() {
            let listed = [$(stringify!($case)),*];
            let all: Vec<&str> = contract::cases().iter().map(|c| c.name).collect();
            assert_eq!(all, listed);
        }
    };
}

on_the_memory_store!(
    values_set_get_remove,
    get_many_reads_in_order,
    set_and_remove_moves_a_value,
    values_are_bytes,
    values_expire,
    set_replaces_the_lifetime,
    take_reads_once,
    insert_if_absent_writes_once,
    compare_and_swap_needs_the_exact_value,
    counters_count_within_their_first_lifetime,
    indexes_keep_members_with_deadlines,
    indexes_forget_members_a_day_past_their_deadline,
    notifications_reach_every_subscriber,
    conditional_operations_have_one_winner,
    admission_checks_in_order,
);
