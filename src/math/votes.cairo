//! Pure pieces of voting: checkpoint search, vote tallies, proposal state and the per-step bound on
//! margin ratios. No storage: the token and the Governor read their storage and call these.

use crate::math::fixed::SCALE;

/// A value from `key` on [seconds] (block timestamp).
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store)]
pub struct Checkpoint {
    pub key: u64, // [seconds] block timestamp from which `value` holds
    pub value: u256 // [token units] votes (or total supply)
}

/// Read access to an ordered run of checkpoints (ascending keys).
pub trait CheckpointKeys<T> {
    fn key_at(self: @T, index: u32) -> u64;
}

impl SpanCheckpointKeys of CheckpointKeys<Span<Checkpoint>> {
    fn key_at(self: @Span<Checkpoint>, index: u32) -> u64 {
        *(*self).at(index).key
    }
}

/// How many of the first `len` checkpoints have `key <= timepoint` (binary search): the value at
/// `timepoint` is that of checkpoint `result - 1`, or zero when the result is 0.
pub fn upper_index<T, +CheckpointKeys<T>, +Drop<T>>(trace: @T, len: u32, timepoint: u64) -> u32 {
    let mut low: u32 = 0;
    let mut high: u32 = len;
    while low < high {
        let mid = (low + high) / 2;
        if trace.key_at(mid) > timepoint {
            high = mid;
        } else {
            low = mid + 1;
        }
    }
    high
}

/// The value at `timepoint` of a checkpoint run held in a span.
pub fn lookup(trace: Span<Checkpoint>, timepoint: u64) -> u256 {
    let index = upper_index(@trace, trace.len(), timepoint);
    if index == 0 {
        0
    } else {
        *trace.at(index - 1).value
    }
}

pub const AGAINST: u8 = 0;
pub const FOR: u8 = 1;
pub const ABSTAIN: u8 = 2;

/// Votes cast on a proposal [token units].
#[derive(Serde, Drop, Copy, PartialEq, Debug, starknet::Store, Default)]
pub struct Tally {
    pub against: u256,
    pub for_: u256,
    pub abstain: u256,
}

/// Adds `weight` to the side `support` names; None for an unknown support value.
pub fn count_vote(tally: Tally, support: u8, weight: u256) -> Option<Tally> {
    if support == AGAINST {
        Option::Some(Tally { against: tally.against + weight, ..tally })
    } else if support == FOR {
        Option::Some(Tally { for_: tally.for_ + weight, ..tally })
    } else if support == ABSTAIN {
        Option::Some(Tally { abstain: tally.abstain + weight, ..tally })
    } else {
        Option::None
    }
}

/// More for than against, and for + abstain reach the quorum.
pub fn vote_succeeded(tally: Tally, quorum: u256) -> bool {
    tally.for_ > tally.against && tally.for_ + tally.abstain >= quorum
}

#[derive(Serde, Drop, Copy, PartialEq, Debug)]
pub enum ProposalState {
    Pending,
    Active,
    Defeated,
    Succeeded,
    Queued,
    Executed,
    Canceled,
    Expired,
}

/// The state of a proposal at `now` from its times, tally and flags. Voting runs over
/// (snapshot, end]; a queued proposal expires `grace` after its eta, as its timelock calls do.
pub fn proposal_state(
    now: u64,
    snapshot: u64,
    end: u64,
    eta: u64,
    grace: u64,
    tally: Tally,
    quorum: u256,
    executed: bool,
    canceled: bool,
) -> ProposalState {
    if executed {
        ProposalState::Executed
    } else if canceled {
        ProposalState::Canceled
    } else if now <= snapshot {
        ProposalState::Pending
    } else if now <= end {
        ProposalState::Active
    } else if !vote_succeeded(tally, quorum) {
        ProposalState::Defeated
    } else if eta == 0 {
        ProposalState::Succeeded
    } else if now > eta + grace {
        ProposalState::Expired
    } else {
        ProposalState::Queued
    }
}

/// Whether `proposed` stays within `current * (1 ± max_step)`, `max_step` relative [SCALE]; the bound
/// is rounded towards `current` (against the proposer).
pub fn within_step(current: u128, proposed: u128, max_step: u128) -> bool {
    let delta: u256 = current.into() * max_step.into() / SCALE;
    let current: u256 = current.into();
    let proposed: u256 = proposed.into();
    proposed + delta >= current && proposed <= current + delta
}

#[cfg(test)]
mod tests {
    use super::{
        Checkpoint, ProposalState, Tally, count_vote, lookup, proposal_state, vote_succeeded,
        within_step,
    };

    const SCALE: u128 = 1_000_000_000_000_000_000;

    fn trace() -> Span<Checkpoint> {
        array![
            Checkpoint { key: 10, value: 100 }, Checkpoint { key: 20, value: 0 },
            Checkpoint { key: 25, value: 7 }, Checkpoint { key: 40, value: 50 },
        ]
            .span()
    }

    #[test]
    fn lookup_finds_the_last_checkpoint_at_or_before() {
        let t = trace();
        assert_eq!(lookup(t, 9), 0);
        assert_eq!(lookup(t, 10), 100);
        assert_eq!(lookup(t, 19), 100);
        assert_eq!(lookup(t, 20), 0);
        assert_eq!(lookup(t, 24), 0);
        assert_eq!(lookup(t, 25), 7);
        assert_eq!(lookup(t, 39), 7);
        assert_eq!(lookup(t, 40), 50);
        assert_eq!(lookup(t, 1_000_000), 50);
        assert_eq!(lookup(array![].span(), 5), 0);
        assert_eq!(lookup(array![Checkpoint { key: 5, value: 3 }].span(), 5), 3);
        assert_eq!(lookup(array![Checkpoint { key: 5, value: 3 }].span(), 4), 0);
    }

    #[test]
    fn lookup_on_a_long_trace_matches_a_linear_scan() {
        let mut cps: Array<Checkpoint> = array![];
        let mut i: u64 = 0;
        while i < 37 {
            cps.append(Checkpoint { key: 3 * i + 1, value: (i + 1).into() });
            i += 1;
        }
        let t = cps.span();
        let mut at: u64 = 0;
        while at < 120 {
            let mut expected: u256 = 0;
            for cp in t {
                if *cp.key <= at {
                    expected = *cp.value;
                }
            }
            assert_eq!(lookup(t, at), expected);
            at += 1;
        }
    }

    #[test]
    fn votes_are_counted_per_side() {
        let t = Default::default();
        let t = count_vote(t, 1, 10).unwrap();
        let t = count_vote(t, 0, 4).unwrap();
        let t = count_vote(t, 2, 3).unwrap();
        let t = count_vote(t, 1, 0).unwrap();
        assert_eq!(t, Tally { against: 4, for_: 10, abstain: 3 });
        assert!(count_vote(t, 3, 1).is_none());
    }

    #[test]
    fn success_needs_majority_and_quorum() {
        assert!(vote_succeeded(Tally { against: 4, for_: 10, abstain: 3 }, 13));
        assert!(!vote_succeeded(Tally { against: 4, for_: 10, abstain: 3 }, 14)); // no quorum
        assert!(!vote_succeeded(Tally { against: 10, for_: 10, abstain: 100 }, 1)); // tie
        assert!(!vote_succeeded(Tally { against: 0, for_: 0, abstain: 0 }, 0)); // nobody voted for
        assert!(vote_succeeded(Tally { against: 0, for_: 1, abstain: 0 }, 0));
    }

    #[test]
    fn state_follows_time_and_flags() {
        let yes = Tally { against: 0, for_: 10, abstain: 0 };
        let no = Tally { against: 0, for_: 1, abstain: 0 };
        let st = |now: u64, eta: u64, tally: Tally, ex: bool, ca: bool| proposal_state(
            now, 100, 200, eta, 50, tally, 5, ex, ca,
        );
        assert_eq!(st(100, 0, yes, false, false), ProposalState::Pending);
        assert_eq!(st(101, 0, yes, false, false), ProposalState::Active);
        assert_eq!(st(200, 0, yes, false, false), ProposalState::Active);
        assert_eq!(st(201, 0, yes, false, false), ProposalState::Succeeded);
        assert_eq!(st(201, 0, no, false, false), ProposalState::Defeated);
        assert_eq!(st(260, 300, yes, false, false), ProposalState::Queued);
        assert_eq!(st(350, 300, yes, false, false), ProposalState::Queued);
        assert_eq!(st(351, 300, yes, false, false), ProposalState::Expired);
        assert_eq!(st(351, 300, yes, true, false), ProposalState::Executed);
        assert_eq!(st(150, 0, yes, false, true), ProposalState::Canceled);
    }

    #[test]
    fn step_bound_is_relative_and_symmetric() {
        let step = SCALE / 10; // 10%
        let cur = SCALE / 10; // 0.1
        assert!(within_step(cur, cur, step));
        assert!(within_step(cur, cur + cur / 10, step)); // 0.11
        assert!(within_step(cur, cur - cur / 10, step)); // 0.09
        assert!(!within_step(cur, cur + cur / 10 + 1, step));
        assert!(!within_step(cur, cur - cur / 10 - 1, step));
        assert!(!within_step(cur, 0, step)); // a captured vote cannot zero a ratio
        assert!(within_step(cur, 0, SCALE)); // unless the bound allows 100%
        assert!(within_step(0, 0, step));
        assert!(!within_step(0, 1, step));
        assert!(!within_step(cur, cur + 1, 0));
        assert!(within_step(7, 7, 0));
    }
}
