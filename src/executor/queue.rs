//! Which bucket a lane takes next. The plan's buckets, biggest first, in
//! one queue per account (the APPID their names end in): COS throttles
//! each account on its own and each has its own pace, so a lane waiting
//! on a throttled account's bucket waits for that account alone. Each
//! account may hold at most its share of the lanes while others have
//! buckets left; one account's slow pace then cannot take every lane
//! while the others' buckets wait behind it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// The buckets still to take, by account.
#[derive(Debug)]
pub(super) struct BucketQueue {
    accounts: Vec<AccountQueue>,
    /// The run's lanes, shared out between the accounts with buckets left.
    lanes: usize,
    /// Where the next search for an account starts, so that accounts take
    /// turns.
    turn: AtomicUsize,
}

#[derive(Debug)]
struct AccountQueue {
    /// Indices of buckets, in the order they are taken.
    order: Vec<usize>,
    next: AtomicUsize,
    /// Lanes working on this account's buckets now.
    busy: AtomicUsize,
}

/// A bucket taken by a lane, to hand back with [`BucketQueue::done`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Taken {
    account: usize,
    pub(super) bucket: usize,
}

impl AccountQueue {
    fn has_more(&self) -> bool {
        self.next.load(Ordering::Relaxed) < self.order.len()
    }

    fn take(&self) -> Option<usize> {
        let next = self.next.fetch_add(1, Ordering::Relaxed);
        self.order.get(next).copied()
    }
}

impl BucketQueue {
    /// `order` (indices of buckets) split by `account_of`, each account's
    /// buckets in `order`'s order, accounts in the order first met.
    pub(super) fn new<'a>(
        order: &[usize],
        account_of: impl Fn(usize) -> &'a str,
        lanes: usize,
    ) -> Self {
        let mut names: Vec<&str> = Vec::new();
        let mut accounts: Vec<AccountQueue> = Vec::new();
        for &bucket in order {
            let account = account_of(bucket);
            let place = match names.iter().position(|name| *name == account) {
                Some(place) => place,
                None => {
                    names.push(account);
                    accounts.push(AccountQueue {
                        order: Vec::new(),
                        next: AtomicUsize::new(0),
                        busy: AtomicUsize::new(0),
                    });
                    accounts.len() - 1
                }
            };
            accounts[place].order.push(bucket);
        }
        BucketQueue {
            accounts,
            lanes: lanes.max(1),
            turn: AtomicUsize::new(0),
        }
    }

    /// The next bucket for a lane: from an account under its share of the
    /// lanes, accounts taking turns; from any account with buckets left
    /// when none is under (a share moves as accounts run out); `None` when
    /// every bucket is taken.
    pub(super) fn take(&self) -> Option<Taken> {
        if let [only] = self.accounts.as_slice() {
            return only.take().map(|bucket| Taken { account: 0, bucket });
        }
        let count = self.accounts.len();
        let left = self
            .accounts
            .iter()
            .filter(|queue| queue.has_more())
            .count();
        let share = (self.lanes / left.max(1)).max(1);
        let start = self.turn.fetch_add(1, Ordering::Relaxed);
        let under = |queue: &AccountQueue| queue.busy.load(Ordering::Relaxed) < share;
        for pass in [true, false] {
            for step in 0..count {
                let account = (start + step) % count;
                let queue = &self.accounts[account];
                if pass && !under(queue) {
                    continue;
                }
                if let Some(bucket) = queue.take() {
                    queue.busy.fetch_add(1, Ordering::Relaxed);
                    return Some(Taken { account, bucket });
                }
            }
        }
        None
    }

    /// The lane is done with `taken`.
    pub(super) fn done(&self, taken: Taken) {
        self.accounts[taken.account]
            .busy
            .fetch_sub(1, Ordering::Relaxed);
    }

    /// Every bucket in the order it would be taken by one lane at a time
    /// with nothing busy: for tests.
    #[cfg(test)]
    pub(super) fn order(&self) -> Vec<usize> {
        self.accounts
            .iter()
            .flat_map(|queue| queue.order.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(accounts: &[&'static str], lanes: usize) -> BucketQueue {
        let order: Vec<usize> = (0..accounts.len()).collect();
        BucketQueue::new(&order, |bucket| accounts[bucket], lanes)
    }

    #[test]
    fn one_account_is_taken_in_order() {
        let queue = queue(&["1", "1", "1"], 4);
        let taken: Vec<usize> = std::iter::from_fn(|| queue.take().map(|t| t.bucket)).collect();
        assert_eq!(taken, [0, 1, 2]);
    }

    #[test]
    fn a_slow_account_holds_at_most_its_share_of_the_lanes() {
        // Account "a" has 6 buckets, "b" 6; 4 lanes. Lanes on "a" never
        // finish (its pace is slow): "a" gets 2 lanes, "b" keeps the rest
        // and every one of its buckets is taken.
        let names = ["a", "b", "a", "b", "a", "b", "a", "b", "a", "b", "a", "b"];
        let queue = queue(&names, 4);
        let mut on_a = 0;
        let mut b_done = 0;
        for _ in 0..4 {
            let taken = queue.take().unwrap();
            match names[taken.bucket] {
                "a" => on_a += 1,
                _ => {
                    b_done += 1;
                    queue.done(taken);
                }
            }
        }
        // Freed lanes go on taking: "a" is at its share, so "b" gets them.
        while b_done < 6 {
            let taken = queue.take().unwrap();
            assert_eq!(names[taken.bucket], "b", "a lane went to the slow account");
            b_done += 1;
            queue.done(taken);
        }
        assert_eq!(on_a, 2);
        // With "b" done, "a" may have every lane.
        let rest: Vec<&str> =
            std::iter::from_fn(|| queue.take().map(|t| names[t.bucket])).collect();
        assert_eq!(rest, ["a"; 4]);
    }
}
