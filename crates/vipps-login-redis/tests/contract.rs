//! The whole `Store` contract, run on `MemoryStore` (the reference semantics) and on
//! `RedisStore` against a real Redis, from the same test functions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::contract;

macro_rules! on_both_stores {
    ($($case:ident),* $(,)?) => {
        mod memory {
            use super::contract;
            $(
                #[tokio::test]
                async fn $case() {
                    contract::$case(vipps_login_core::MemoryStore::new()).await;
                }
            )*
        }

        mod redis {
            use super::{common, contract};
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let redis = common::Redis::start();
                    contract::$case(redis.store().await).await;
                }
            )*
        }
    };
}

on_both_stores!(
    values_set_get_remove,
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
