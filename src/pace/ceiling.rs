//! How fast to send when COS throttles: a controller that finds an unknown
//! rate ceiling, and what a `Retry-After` header asks for.
//!
//! [`CeilingController`] owns the decisions only: a plain state machine
//! whose every method takes the time from its caller; nothing reads a
//! clock, sleeps or does I/O, so it is tested against simulated servers.
//! [`super::Pacer`] is the shared wrapper the executor's tasks use. Its
//! signals are "accepted", "throttled" and "answered otherwise" (a 404, a
//! 500: an answer that never slows the pace), and a turn given back;
//! failures are [`super::outage`]'s business.
//!
//! The shape is the AWS SDKs' adaptive retry mode (a token bucket, cut on
//! congestion, regrown along a TCP CUBIC curve), changed in seven ways for
//! a server whose burst of about a second hides its ceiling. The whole
//! story, for operators and readers of this code alike, is in
//! docs/reliability.md ("The ceiling"); in short, and where each lives:
//!
//! 1. the start goes in lock-step waves (`start.rs`), up to
//!    [`CeilingConfig::burst_horizon`], from [`CeilingConfig::initial_wave`]
//!    and ending early at [`CeilingConfig::lockstep_until`];
//! 2. a partly throttled wave is probed (`start.rs`) to tell a ceiling
//!    from noise;
//! 3. congestion is judged per round (the answers to requests sent since
//!    the pace last changed), not per answer;
//! 4. a cut is anchored on what the server accepted, bounded by 1.25× the
//!    rate it answered lately, and never below 30% of what it answered over
//!    the last two seconds (the pace, and the estimate the curve regrows
//!    toward);
//! 5. every cut is an experiment: throttling that does not fall below the
//!    share seen over the whole stretch at the pace before is noise
//!    (learned up to 40%), and the cuts are undone, however early in the
//!    run if that stretch was itself throttled; most answers throttled is a
//!    ceiling whatever was learned; and with noise learned, a cut after
//!    which the server accepts about as much as before (noise would take
//!    its share of less) meets a ceiling, and halves the learned noise;
//! 6. the cubic curve regains the ceiling in [`CeilingConfig::regain`] at
//!    any rate;
//! 7. shares are read with confidence intervals and sequential tests.
//!
//! A pace from the start's guess (which cannot know the server's burst), or
//! far below what the server answered lately, grows exponentially until a
//! round is congested; otherwise growth is capped at twice the measured
//! send rate (as in AWS), so a phase where the run sends less than allowed
//! cannot build up a burst.

use std::time::{Duration, Instant};

use start::Start;

/// Tuning of [`CeilingController`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CeilingConfig {
    /// After a cut the pace restarts at this fraction of the estimated
    /// ceiling. AWS and TCP CUBIC use 0.7 of the rate *sent*; ours is a
    /// fraction of the rate *accepted*, already below what was sent, so a
    /// gentler 0.8 keeps more throughput with the same margin under the
    /// ceiling for the server's bucket to refill.
    pub beta: f64,
    /// How long the cubic curve takes to climb from a cut back to the
    /// estimated ceiling. Shorter finds a raised ceiling sooner but meets a
    /// fixed one more often. 2 s is a hundred round trips at COS latencies,
    /// and a run of a minute still probes upward many times.
    pub regain: Duration,
    /// The pace never goes below this many requests per second. The issue
    /// asks that the controller can reach 1/s against a ceiling that low;
    /// a server that allows less is better handled by the outage guard.
    pub min_rate: f64,
    /// A round is judged once it holds this many answers. 20 keeps rounds
    /// within a round trip or two at hundreds per second while giving a
    /// share a usable spread (±7 points at 10%).
    pub round_answers: u32,
    /// ... or once it is this old and has any answer, so slow paces (a few
    /// per second) are still judged about once a second.
    pub max_round: Duration,
    /// A throttled share above this is congestion even if it does not ease
    /// as we slow down: a service rejecting most requests is overloaded,
    /// not noisy.
    pub max_noise: f64,
    /// The token bucket holds this much time's worth of sends, so late
    /// timer wake-ups (tokio's timer has 1 ms resolution) do not lower the
    /// achieved rate. Tiny next to a server's burst of about a second.
    pub burst: Duration,
    /// How long a server's burst may hide its ceiling: COS and the emulator
    /// let about a second's worth through at once. Until the run has sent
    /// for this long it goes in lock-step waves, and the first estimate
    /// counts a burst this long in what the server accepted.
    pub burst_horizon: Duration,
    /// Requests in a probe: after a partly throttled wave at the start,
    /// this many (plus what a ceiling would refill meanwhile) are sent to
    /// tell a ceiling (the wave emptied the server's bucket, so they are
    /// rejected) from noise (they fare like the wave). Each costs a
    /// rejection behind a ceiling; six tell 10% noise from a ceiling almost
    /// always at once, and 35% in one or two probes.
    pub probe: u32,
    /// The first wave holds at most this many requests, and each wave after
    /// it at most twice what the one before had accepted (TCP's slow start,
    /// whose initial window is ten). Against a ceiling whose burst is
    /// smaller than the client's concurrency, a wave of all of it is
    /// mostly rejected; against none, this costs two round trips of the
    /// first second (for 64 workers).
    pub initial_wave: u32,
    /// Lock-step ends early once what the server accepted, with nothing
    /// throttled (or only the learned noise), shows that any ceiling it has
    /// is at least this many requests per second. Waves cost a fast run a
    /// third of its throughput (every round trip drains the pipeline), and
    /// they only matter against a low ceiling: against a higher one, the
    /// requests on the wire when its burst runs out are a small share of
    /// what it accepts in a second.
    pub lockstep_until: f64,
}

impl Default for CeilingConfig {
    fn default() -> Self {
        CeilingConfig {
            beta: 0.8,
            regain: Duration::from_secs(2),
            min_rate: 1.0,
            round_answers: 20,
            max_round: Duration::from_secs(1),
            max_noise: 0.5,
            burst: Duration::from_millis(20),
            burst_horizon: Duration::from_secs(1),
            probe: 6,
            initial_wave: 16,
            lockstep_until: 1000.0,
        }
    }
}

/// The pure rate controller; see the module documentation.
#[derive(Debug, Clone)]
pub struct CeilingController {
    config: CeilingConfig,
    sends: SendMeter,
    /// Answers not throttled over the last seconds: the floor of the pace
    /// follows them (see [`FLOOR_SHARE`]).
    answers: AnswerMeter,
    /// Smoothed round-trip time (TCP's 7/8 average).
    rtt: Duration,
    round: Round,
    /// The round before `round`, pooled with a congested one to judge a
    /// cut against more than one round's worth of answers.
    previous: Option<Round>,
    /// `None` until the first throttling answer.
    pacing: Option<Pacing>,
    /// The throttled share of answers that is not caused by our rate.
    noise: f64,
    /// The cut being judged, if any.
    cut: Option<Cut>,
    /// The highest pace cut from since a cut was last respected (infinite
    /// when they started from unpaced): when a run of cuts turns out to
    /// have chased noise, all of them are undone.
    unsettled_peak: f64,
    cuts: u64,
    /// Answers since the last cut was judged (or pacing began).
    stretch: Round,
    /// Slow start ended in congestion: the recent peak of answers is not
    /// the ceiling (a server's burst, a ceiling since lowered), and does
    /// not start slow start again before this.
    recovery_blocked_until: Option<Instant>,
    /// Answers not throttled so far.
    accepted: u64,
    /// The run's start: lock-step waves and the probe.
    start: Start,
}

/// The paced state: a token bucket refilled along the cubic curve.
#[derive(Debug, Clone)]
struct Pacing {
    /// Requests per second now.
    rate: f64,
    /// The estimated ceiling: where the curve flattens out.
    ceiling: f64,
    /// The start of the curve: the last decrease.
    epoch: Instant,
    /// While a cut is judged, the pace stands still (an experiment needs a
    /// steady pace); the curve starts when the verdict is in.
    held: bool,
    /// Growing exponentially until the first congested round: the pace
    /// came from a guess that is only a lower bound (the start's, which
    /// cannot know how big the server's burst is), so the cubic curve's
    /// flat top at it would hold the run far below the ceiling.
    slow_start: bool,
    tokens: f64,
    refilled: Instant,
}

/// A cut under judgement.
#[derive(Debug, Clone, Copy)]
struct Cut {
    /// The pace before it (before the first of two cuts in a row, when
    /// this one follows a cut that throttling did not respect): restored if
    /// the throttling turns out to be noise. Infinite for a cut from
    /// unpaced: undoing it stops pacing.
    undo_rate: f64,
    /// Whether it follows a cut that throttling did not respect.
    second: bool,
    /// The answers that caused it, and the rate they were sent at.
    before: Round,
    /// Every answer at the pace it cut from (since the last cut was
    /// judged): the share the cut must lower to stand. The round that
    /// caused it was picked for its throttles, so its share overstates
    /// throttling that is not ours.
    stretch: Round,
    before_rate: f64,
    /// The answers to requests sent since.
    after: Round,
}

/// What the answers after a cut say about it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    /// Not enough answers yet: keep the pace held.
    Wait,
    /// Throttling stopped (down to the background): a ceiling, respected.
    Respected,
    /// More throttling than before, or more than a ceiling can explain
    /// while less than before: the pace is still over the ceiling (the
    /// server's burst hid how far). Cut again from here.
    Worse,
    /// More throttling than a ceiling explains.
    Unexplained,
}

/// Answers to the requests sent since `start`.
#[derive(Debug, Clone, Copy)]
struct Round {
    start: Instant,
    sent: u64,
    answered: u32,
    throttled: u32,
}

impl Round {
    fn new(start: Instant) -> Self {
        Round {
            start,
            sent: 0,
            answered: 0,
            throttled: 0,
        }
    }

    fn count(&mut self, throttled: bool) {
        self.answered += 1;
        self.throttled += u32::from(throttled);
    }

    /// This round and a later one as one; `start` stays this one's.
    fn merged(self, later: &Round) -> Round {
        Round {
            start: self.start,
            sent: self.sent + later.sent,
            answered: self.answered + later.answered,
            throttled: self.throttled + later.throttled,
        }
    }

    fn share(&self) -> f64 {
        f64::from(self.throttled) / f64::from(self.answered.max(1))
    }

    /// A cautious throttled share: the lower end of the Wilson score
    /// interval at one standard deviation. Equal to the plain share for
    /// big rounds, but one throttle in two answers (a round at 1/s) reads
    /// as about a fifth, not a half, so a slow pace is not halved on one
    /// answer's evidence; ten rejections out of ten still read as 0.91.
    fn throttled_share_low(&self) -> f64 {
        self.throttled_share_below(1.0)
    }

    /// The upper end of the Wilson score interval at `z` standard
    /// deviations.
    fn throttled_share_above(&self, z: f64) -> f64 {
        let accepted = Round {
            throttled: self.answered - self.throttled,
            ..*self
        };
        1.0 - accepted.throttled_share_below(z)
    }

    /// The lower end of the Wilson score interval at `z` standard
    /// deviations.
    fn throttled_share_below(&self, z: f64) -> f64 {
        if self.answered == 0 {
            return 0.0;
        }
        let n = f64::from(self.answered);
        let p = self.share();
        let z2 = z * z;
        let centre = p + z2 / (2.0 * n);
        let spread = z * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
        ((centre - spread) / (1.0 + z2 / n)).max(0.0)
    }

    fn send_rate(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.start).as_secs_f64();
        self.sent as f64 / elapsed.max(0.001)
    }

    /// Judged once it holds enough answers and covers two round trips
    /// (the first brings no answers: they are to requests sent in it); at
    /// once when nearly everything is rejected (the first waves against a
    /// low ceiling); or once it is old and has any answer at all.
    fn is_complete(&self, now: Instant, config: &CeilingConfig, rtt: Duration) -> bool {
        let age = now.saturating_duration_since(self.start);
        (self.answered >= config.round_answers && age >= 2 * rtt)
            || (self.throttled * 2 >= config.round_answers && self.share() >= 0.9)
            || (self.answered > 0 && age >= config.max_round)
    }
}

impl CeilingController {
    pub fn new(config: CeilingConfig, now: Instant) -> Self {
        CeilingController {
            config,
            sends: SendMeter::new(now),
            answers: AnswerMeter::new(now),
            rtt: Duration::ZERO,
            round: Round::new(now),
            previous: None,
            pacing: None,
            noise: 0.0,
            cut: None,
            unsettled_peak: 0.0,
            cuts: 0,
            stretch: Round::new(now),
            recovery_blocked_until: None,
            accepted: 0,
            start: Start::new(now, config.initial_wave),
        }
    }

    /// Takes the right to send one request now (and counts it as sent), or
    /// says when to ask again (always later than `now`). Nothing is taken
    /// on `Err`.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Instant> {
        self.regrow(now);
        self.free_if_ceiling_ruled_out(now);
        if self.in_lockstep(now) {
            // May end a wave, and so start pacing.
            self.step(now)?;
        }
        let burst = self.config.burst.as_secs_f64();
        if let Some(pacing) = &mut self.pacing {
            let elapsed = now.saturating_duration_since(pacing.refilled).as_secs_f64();
            let capacity = (pacing.rate * burst).max(1.0);
            pacing.tokens = (pacing.tokens + elapsed * pacing.rate).min(capacity);
            pacing.refilled = pacing.refilled.max(now);
            if pacing.tokens < 1.0 {
                // Rounded up to the nanosecond, so the token is there when
                // asked again at that time.
                let wait = (1.0 - pacing.tokens) / pacing.rate;
                let wait = Duration::from_nanos((wait * 1e9).ceil() as u64);
                // Never "now": a caller looping on the answer must advance.
                return Err(now + wait.max(Duration::from_micros(1)));
            }
            pacing.tokens -= 1.0;
        }
        self.count_send(now);
        self.sends.record(now);
        self.round.sent += 1;
        Ok(())
    }

    /// The server accepted a request sent at `sent_at`.
    pub fn on_success(&mut self, now: Instant, sent_at: Instant) {
        self.on_answer(now, sent_at, false);
    }

    /// The server throttled a request sent at `sent_at` (503 `SlowDown`,
    /// 429).
    pub fn on_throttle(&mut self, now: Instant, sent_at: Instant) {
        self.on_answer(now, sent_at, true);
    }

    /// The server answered a request sent at `sent_at` with something
    /// other than success or throttling (a 404 for a missing bucket, a
    /// 500, a reset connection). It is an answer, and not a throttle: it
    /// must close its wave and count in its round, or the controller
    /// waits for answers that never come, and it must never cut the pace.
    /// A live server spent its capacity on it, so it counts as accepted.
    pub fn on_error(&mut self, now: Instant, sent_at: Instant) {
        self.on_answer(now, sent_at, false);
    }

    /// A turn taken at `sent_at` was not used (the run or the bucket
    /// stopped meanwhile): it is no longer counted as sent, and its token
    /// is given back.
    pub fn on_unsent(&mut self, now: Instant, sent_at: Instant) {
        if sent_at >= self.round.start {
            self.round.sent = self.round.sent.saturating_sub(1);
        }
        let burst = self.config.burst.as_secs_f64();
        if let Some(pacing) = &mut self.pacing {
            let capacity = (pacing.rate * burst).max(1.0);
            pacing.tokens = (pacing.tokens + 1.0).min(capacity);
        }
        self.withdraw_from_wave(now, sent_at);
    }

    /// The pace in requests per second; `None` while not pacing.
    pub fn current_rate(&self) -> Option<f64> {
        self.pacing.as_ref().map(|pacing| pacing.rate)
    }

    /// The ceiling the controller believes in; `None` while not pacing.
    pub fn estimated_ceiling(&self) -> Option<f64> {
        self.pacing.as_ref().map(|pacing| pacing.ceiling)
    }

    /// The share of answers taken to be throttled whatever our rate.
    pub fn noise_share(&self) -> f64 {
        self.noise
    }

    /// Whether the pace is climbing back rather than held by a ceiling:
    /// growing from the start's guess, or far below the ceiling it last
    /// measured.
    pub fn is_recovering(&self) -> bool {
        self.pacing
            .as_ref()
            .is_some_and(|p| p.slow_start || p.rate < 0.5 * p.ceiling)
    }

    /// How many times the pace was cut.
    pub fn cuts(&self) -> u64 {
        self.cuts
    }

    /// Whether a refusal from [`Self::try_acquire`] may end with an answer
    /// rather than at its time: so while in lock-step (a wave waits for its
    /// answers).
    pub fn waits_for_answers(&self, now: Instant) -> bool {
        self.in_lockstep(now)
    }

    fn on_answer(&mut self, now: Instant, sent_at: Instant, throttled: bool) {
        let sample = now.saturating_duration_since(sent_at);
        self.rtt = if self.rtt.is_zero() {
            sample
        } else {
            (self.rtt * 7 + sample) / 8
        };
        if !throttled {
            self.accepted += 1;
            self.answers.record(now);
        }
        self.stretch.count(throttled);
        if self.pacing.is_none() {
            self.on_unpaced_answer(now, sent_at, throttled);
            return;
        }
        if sent_at < self.round.start {
            // An answer about a pace this round no longer uses; a cut
            // already reacted to it.
            return;
        }
        if !throttled {
            self.grow_in_slow_start(now);
        }
        self.round.count(throttled);
        if self.round_is_complete(now) {
            self.judge_round(now);
        }
    }

    /// Whether the current round can be judged: by its size and age, or,
    /// with no noise learned, at once on its third throttle: the round is
    /// congested however many answers follow, and every round trip spent
    /// waiting for them at a pace over the ceiling is mostly rejections.
    /// Not with noise: checked on every answer at a hundred rounds a
    /// second, a few throttles early in a round are common luck.
    fn round_is_complete(&self, now: Instant) -> bool {
        let round = &self.round;
        round.is_complete(now, &self.config, self.rtt)
            || (self.noise == 0.0 && round.throttled >= 3)
    }

    /// The current round with the one before it.
    fn pooled_round(&self) -> Round {
        match self.previous {
            Some(previous) => previous.merged(&self.round),
            None => self.round,
        }
    }

    fn next_round(&mut self, now: Instant) {
        self.previous = Some(self.round);
        self.round = Round::new(now);
    }

    /// The first throttle after the burst horizon, with no noise learned:
    /// the rate being sent times the cautious accepted share of the answers
    /// so far. Both over more than the current round, which may be young:
    /// the rate over the last second, the share with the round before.
    /// Within the burst horizon (lock-step ended early) the server's burst
    /// may still be in what it accepted, and the first estimate bounds it.
    fn start_pacing(&mut self, now: Instant) {
        let sent = self.sends.rate(now).max(self.config.min_rate);
        let before = self.pooled_round();
        let mut ceiling = sent * (1.0 - self.excess_share(&before));
        if self.within_burst_horizon(now) {
            ceiling = ceiling.min(self.first_estimate(now));
        }
        self.begin_pacing(now, before, sent, ceiling);
    }

    /// A finished round while not paced, after the burst horizon with
    /// noise learned: judged like a paced one, against the noise.
    fn judge_unpaced_round(&mut self, now: Instant) {
        let round = self.round;
        self.track_noise(&round);
        let pooled = match self.previous {
            Some(previous) => previous.merged(&round),
            None => round,
        };
        if self.congested(&pooled) || self.stretch_congested() {
            self.start_pacing(now);
        } else {
            self.next_round(now);
        }
    }

    /// Decides what a finished round means, then starts the next.
    fn judge_round(&mut self, now: Instant) {
        let round = self.round;
        self.track_noise(&round);
        match self.cut.take() {
            Some(mut cut) => {
                cut.after = cut.after.merged(&round);
                self.judge_cut(now, cut);
            }
            None => {
                // With a background to tell apart, a round is judged with
                // the one before it, so one unlucky round of noise does not
                // cut the pace.
                let pooled = match self.previous {
                    Some(previous) if self.noise > 0.0 => previous.merged(&round),
                    _ => round,
                };
                if self.congested(&pooled) || self.stretch_congested() {
                    let rate = self.current_rate().unwrap_or(0.0);
                    // What the round measured, even if a server's burst left
                    // over made it read high: a pace still over the
                    // ceiling is cut again by its experiment, at a pace
                    // whose answers measure the ceiling itself. (Bounds
                    // from what was accepted since the last cut assume a
                    // burst of a known size, and held the pace far below
                    // a ceiling with a shorter one.)
                    let measured = self.measured_ceiling(&round, now);
                    // A round judged at its third throttle is measured
                    // with the round before it, which may have been clean
                    // and fast: never more than the server has been seen
                    // to answer lately, with room for its burst.
                    let shown = SHOWN_MARGIN * self.answers.rate_lately(now) / (1.0 - self.noise);
                    let ceiling = measured.min(shown.max(self.config.min_rate));
                    self.begin_cut(now, pooled, round.send_rate(now), ceiling, rate, false);
                }
            }
        }
        if self.round.start < now {
            self.next_round(now);
        }
    }

    /// What a congested round shows the server accepts. A round judged
    /// early (on its third throttle) spans a few milliseconds: too short
    /// to measure a rate, and its share is read high (it stopped at a
    /// throttle). It is measured with the round before it; if that reads
    /// high, a pace still over the ceiling is cut again by its experiment.
    fn measured_ceiling(&self, round: &Round, now: Instant) -> f64 {
        match self.previous {
            Some(previous) if round.answered < self.config.round_answers => {
                self.accepted_rate(&previous.merged(round), now)
            }
            _ => self.accepted_rate(round, now),
        }
    }

    /// Whether a round is congested: its share exceeds the learned noise
    /// by two points (requests sent just after a cut still meet the
    /// previous wave at the server) and four standard deviations of the
    /// noise's own spread over a round that size. Four, not three: at a
    /// hundred rounds a second, three would mistake a noisy round for
    /// congestion about once a second.
    /// Most answers throttled (read cautiously) is congestion whatever
    /// the background: a service rejecting most requests is overloaded,
    /// and a background learned wrong must not hide a ceiling.
    fn congested(&self, round: &Round) -> bool {
        self.stands_out(round, self.noise) || self.mostly_throttled(round)
    }

    /// Whether most of `round` was throttled, read cautiously: at one
    /// standard deviation with no background learned, at two with one
    /// (at 35% of noise, one round of forty in a few thousand reads over
    /// half at one deviation, and a run checks hundreds a second).
    fn mostly_throttled(&self, round: &Round) -> bool {
        let z = if self.noise > 0.0 { 2.0 } else { 1.0 };
        round.throttled_share_below(z) > self.config.max_noise
    }

    /// Whether the answers since the last cut was judged, taken together,
    /// exceed the background: a round or two cannot tell a pace creeping
    /// over a ceiling from a high background (the spread of twenty
    /// answers at 30% is ten points), a few hundred can.
    fn stretch_congested(&self) -> bool {
        let stretch = &self.stretch;
        self.noise > 0.0
            && stretch.answered >= 4 * self.config.round_answers
            && self.congested(stretch)
    }

    /// Ordinary rounds only ever lower the background estimate, and
    /// slowly (a hundredth of the way per round: quiet rounds are the lower
    /// half of noisy ones). They never raise it: a pace creeping over a
    /// ceiling would raise it with them, and a higher estimate would let
    /// the pace creep higher. Raising is left to the experiments after
    /// cuts ([`Self::judge_experiment`]).
    fn track_noise(&mut self, round: &Round) {
        if round.share() < self.noise {
            self.noise += (round.share() - self.noise) * 0.01;
        }
    }

    /// A cut was respected: throttling fell to what a ceiling predicts.
    /// The answers since measured the background at a steady, lower pace.
    /// When that pace was clean (the ceiling predicted no excess) and the
    /// sample big (two rounds' worth), they are trusted: they set the
    /// estimate part of the way (up to half), and if the round that caused
    /// the cut does not stand out against them, it was a noisy round and
    /// the cut is undone. Otherwise they may only lower the estimate: a
    /// cut not quite deep enough would otherwise raise it with the
    /// ceiling's rejections.
    fn judge_experiment(&mut self, now: Instant, cut: Cut) {
        let share = cut.after.share();
        let weight =
            (f64::from(cut.after.answered) / f64::from(4 * self.config.round_answers)).min(0.5);
        let clean = self.predicted_share(now, &cut) <= self.noise + 0.02 + 1e-9;
        let trusted = clean && cut.after.answered >= 2 * self.config.round_answers;
        if trusted || share < self.noise {
            self.noise += (share.min(MAX_LEARNED_NOISE) - self.noise) * weight;
        }
        if trusted && !self.stands_out(&cut.before, self.noise.max(share)) {
            self.noise = self.noise.max(share).min(MAX_LEARNED_NOISE);
            self.undo(now, cut.undo_rate);
            return;
        }
        let held = self.accepted_held(now, &cut);
        if held.is_some() {
            // What was learned as noise follows the pace: another
            // process's share of a ceiling, or a ceiling mistaken early.
            self.noise *= 0.5;
        }
        // The curve starts climbing from here.
        if let Some(pacing) = &mut self.pacing {
            if let Some(accepted) = held {
                pacing.ceiling = accepted.max(self.config.min_rate);
                pacing.rate = pacing.rate.min(pacing.ceiling);
            }
            pacing.held = false;
            pacing.epoch = now;
        }
        self.unsettled_peak = 0.0;
        self.stretch = Round::new(now);
    }

    /// With noise learned, whether the server went on accepting about as
    /// much after a cut as before it: noise takes a fixed share, so what
    /// it accepts falls with the pace; a ceiling takes what exceeds it, so
    /// what it accepts holds. Shares cannot tell them apart when other
    /// processes send too (our cut barely lowers the share they see), the
    /// rate accepted can. The rate accepted since the cut, if it held.
    fn accepted_held(&self, now: Instant, cut: &Cut) -> Option<f64> {
        if self.noise <= 0.0 || cut.after.answered < 2 * self.config.round_answers {
            return None;
        }
        let sent_after = cut.after.send_rate(now);
        if sent_after > 0.85 * cut.before_rate {
            return None;
        }
        let before = cut.before_rate * (1.0 - cut.stretch.share());
        let after = sent_after * (1.0 - cut.after.share());
        let if_noise = before * sent_after / cut.before_rate;
        // Less than half the fall noise predicts.
        (after > (before + if_noise) / 2.0).then_some(after)
    }

    /// Whether `round` would count as congested against `background`.
    fn stands_out(&self, round: &Round, background: f64) -> bool {
        let answers = f64::from(round.answered.max(1));
        // With no background learned yet, its spread is taken as that of
        // a small one: a throttle or two in a round is not congestion, or
        // noise of a few percent cuts the pace at every round.
        let spreading = background.max(MIN_BACKGROUND);
        let spread = (spreading * (1.0 - spreading) / answers).sqrt();
        round.share() > background + 0.02 + 4.0 * spread
    }

    /// What the server accepted of `round`'s sends, beyond the noise.
    fn accepted_rate(&self, round: &Round, now: Instant) -> f64 {
        round.send_rate(now) * (1.0 - self.excess_share(round))
    }

    /// What the server accepted of `round`'s sends beyond the noise, from
    /// the plain share.
    fn accepted_rate_plain(&self, round: &Round, now: Instant) -> f64 {
        let excess = ((round.share() - self.noise) / (1.0 - self.noise)).clamp(0.0, 1.0);
        round.send_rate(now) * (1.0 - excess)
    }

    /// The share of `round` throttled beyond the noise, read cautiously.
    fn excess_share(&self, round: &Round) -> f64 {
        let throttled = round.throttled_share_low();
        ((throttled - self.noise) / (1.0 - self.noise)).clamp(0.0, 1.0)
    }

    /// Cuts to `beta` times `ceiling` and holds the pace there until the
    /// answers to what is sent next judge the cut.
    fn begin_cut(
        &mut self,
        now: Instant,
        before: Round,
        before_rate: f64,
        ceiling: f64,
        undo_rate: f64,
        second: bool,
    ) {
        let config = self.config;
        let floor = self.floor(now);
        // The curve regrows toward the estimate from the verdict on: an
        // estimate under the floor would take the pace there anyway.
        let ceiling = ceiling.max(floor / config.beta);
        if self.pacing.as_ref().is_some_and(|p| p.slow_start) {
            self.recovery_blocked_until = Some(now + Duration::from_secs(u64::from(PEAK_SPAN)));
        }
        if let Some(pacing) = &mut self.pacing {
            pacing.ceiling = ceiling;
            pacing.rate = (config.beta * ceiling).max(floor);
            pacing.epoch = now;
            pacing.held = true;
            pacing.slow_start = false;
            pacing.tokens = pacing.tokens.min(0.0);
            pacing.refilled = now;
        }
        self.cuts += 1;
        self.previous = None;
        self.unsettled_peak = self.unsettled_peak.max(undo_rate);
        self.cut = Some(Cut {
            undo_rate,
            second,
            before,
            stretch: if self.stretch.answered > before.answered {
                self.stretch
            } else {
                before
            },
            before_rate,
            after: Round::new(now),
        });
        self.round = Round::new(now);
        self.stretch = Round::new(now);
    }

    fn judge_cut(&mut self, now: Instant, cut: Cut) {
        match self.verdict(now, &cut) {
            Verdict::Wait => self.cut = Some(cut),
            Verdict::Respected => self.judge_experiment(now, cut),
            Verdict::Worse => {
                // Over the ceiling since the cut, so the server's bucket
                // is empty and the plain share is its rate: read
                // cautiously, each cut would stay above it.
                let ceiling = self.accepted_rate_plain(&cut.after, now);
                let rate = cut.after.send_rate(now);
                let pace = self.current_rate().unwrap_or(rate);
                self.begin_cut(now, cut.after, rate, ceiling, pace, false);
            }
            Verdict::Unexplained if cut.second || self.not_lowered(now, &cut) => {
                // Slowing down did not lower it at all (over a ceiling it
                // would: its share is one less what it takes over what is
                // sent), or twice in a row not enough: noise, and so was
                // every cut since one was last respected.
                // Both the stretch and the answers since are the noise
                // when the stretch was as throttled. The answers since
                // alone are forty or so, which read it ten points low as
                // often as not: taken at the upper end of their interval,
                // since noise learned low cuts the pace again at every
                // stretch, while noise learned high is bounded by the
                // check that most answers throttled is a ceiling.
                let sample = if self.stretch_throttled(&cut) {
                    cut.stretch.merged(&cut.after).share()
                } else {
                    cut.after.throttled_share_above(1.0)
                };
                self.noise = self.noise.max(sample).min(MAX_LEARNED_NOISE);
                self.undo(now, cut.undo_rate.max(self.unsettled_peak));
            }
            Verdict::Unexplained => {
                let ceiling = self.accepted_rate(&cut.after, now);
                let rate = cut.after.send_rate(now);
                self.begin_cut(now, cut.after, rate, ceiling, cut.undo_rate, true);
            }
        }
    }

    /// Whether a cut plainly did not lower the throttled share: not even
    /// by one standard deviation, against a stretch long enough to be
    /// more than a server's burst running out.
    fn not_lowered(&self, now: Instant, cut: &Cut) -> bool {
        let settled = self
            .start
            .first_send
            .is_some_and(|first| now >= first + 2 * self.config.burst_horizon);
        let steady = cut
            .before
            .start
            .saturating_duration_since(cut.stretch.start);
        ((settled && steady >= self.config.burst_horizon) || self.stretch_throttled(cut))
            && cut.stretch.answered * 2 >= self.config.round_answers
            && cut.after.share() >= cut.stretch.share()
    }

    /// Whether the whole stretch at the pace before a cut, not only the
    /// round that caused it, stood out against the background. A server's
    /// burst hides a ceiling by letting a stretch through clean, so a
    /// throttled one is not hiding anything: if slowing down did not
    /// lower its share, the throttling is not ours, however early in the
    /// run.
    fn stretch_throttled(&self, cut: &Cut) -> bool {
        let stretch = &cut.stretch;
        stretch.answered >= 4 * self.config.round_answers && self.congested(stretch)
    }

    /// Judges the answers since a cut against those that caused it.
    ///
    /// A cut stands only while slowing down lowered the rejected share.
    /// Much more throttling than before the cut, or most answers
    /// throttled, is [`Verdict::Worse`] at once: the pace is still over
    /// a ceiling its burst hid. Otherwise, once two rounds' worth of
    /// answers are in (or two rounds' time has passed, at slow paces: a
    /// pace cut by mistake to a few per second must not wait long), the share
    /// since the cut is compared with what a respected ceiling predicts
    /// ([`Self::predicted_share`]) and with the share over the whole
    /// stretch at the pace before (not the round that caused the cut,
    /// picked for its throttles): down to the prediction, the ceiling is
    /// respected; down from the stretch but not to the prediction, a
    /// ceiling behind noise, respected too (the experiment learns the
    /// noise); not down at all, the throttling is not ours.
    fn verdict(&self, now: Instant, cut: &Cut) -> Verdict {
        let (before, after) = (&cut.before, &cut.after);
        let enough = self.config.round_answers;
        // Slowing down made it worse than at the pace before: the server
        // takes less than it seemed to.
        let worse = significantly_higher(after, before) || exceeds(after, &cut.stretch, 2.0);
        if (after.throttled_share_low() > self.config.max_noise && after.answered * 2 >= enough)
            || (after.answered >= enough && worse)
        {
            return Verdict::Worse;
        }
        let held_long = now.saturating_duration_since(after.start) >= 2 * self.config.max_round;
        // Two rounds' worth: a share of a few percent over twenty
        // answers is luck as often as not.
        if after.answered < 2 * enough && !(held_long && after.answered > 0) {
            return Verdict::Wait;
        }
        let predicted = self.predicted_share(now, cut).min(0.9);
        let n = f64::from(after.answered);
        let spread = (predicted * (1.0 - predicted) / n).sqrt();
        let respected = after.share() <= predicted + 2.0 * spread;
        if self.stretch_throttled(cut) && after.share() >= cut.stretch.share() {
            // A ceiling predicted it, but slowing did not lower it.
            Verdict::Unexplained
        } else if respected || exceeds(&cut.stretch, after, 2.0) {
            Verdict::Respected
        } else if after.throttled_share_low() <= self.config.max_noise {
            Verdict::Unexplained
        } else {
            Verdict::Worse
        }
    }

    /// The throttled share a ceiling predicts after a cut: the round that
    /// caused it was sent at `S` and lost `p` (read cautiously), so the
    /// ceiling is about `S·(1-p)`, and at the new pace `S'` the share is
    /// `1 - S·(1-p)/S'` if positive; plus the background and two points of
    /// slack for requests that met the previous wave at the server.
    fn predicted_share(&self, now: Instant, cut: &Cut) -> f64 {
        let slowed = cut.after.send_rate(now) / cut.before_rate.max(f64::MIN_POSITIVE);
        let kept = 1.0 - cut.before.throttled_share_low();
        let ceiling_says = (1.0 - kept / slowed.max(0.01)).max(0.0);
        (ceiling_says + self.noise + 0.02).min(1.0)
    }

    /// Restores the pace from before a cut that reacted to noise, on the
    /// flat top of the curve so it probes upward from there; or stops
    /// pacing if the cuts started from unpaced.
    fn undo(&mut self, now: Instant, rate: f64) {
        self.unsettled_peak = 0.0;
        self.stretch = Round::new(now);
        if rate.is_infinite() {
            self.unpace(now);
            return;
        }
        let regain = regain(&self.config, rate);
        if let Some(pacing) = &mut self.pacing {
            pacing.ceiling = rate;
            pacing.rate = rate;
            pacing.epoch = now.checked_sub(regain).unwrap_or(now);
            pacing.held = false;
        }
    }

    /// In slow start, each answer not throttled grows the pace by as much
    /// as it is, up to a request per round trip: the pace doubles every
    /// answer while it is under one request per round trip (so even 1/s is
    /// left in a second or two), and every round trip above that, as in
    /// TCP's slow start. Never beyond twice what is being sent.
    fn grow_in_slow_start(&mut self, now: Instant) {
        let sent = self.sends.rate(now);
        let per_round_trip = 1.0 / self.rtt.as_secs_f64().max(0.001);
        if let Some(pacing) = self.pacing.as_mut().filter(|p| p.slow_start) {
            let grown = pacing.rate + pacing.rate.min(per_round_trip);
            pacing.rate = grown.min(pacing.rate.max(2.0 * sent));
        }
    }

    /// Moves the pace along the cubic curve, growing at most to twice the
    /// measured send rate.
    fn regrow(&mut self, now: Instant) {
        let config = self.config;
        let sent = self.sends.rate(now);
        // A cut whose experiment has only clean answers so far.
        let clean_cut = self
            .cut
            .as_ref()
            .is_some_and(|cut| cut.after.throttled == 0 && cut.after.answered > 0);
        let may_recover = self.recovery_blocked_until.is_none_or(|until| now >= until);
        let answers = &mut self.answers;
        if let Some(pacing) = &mut self.pacing {
            if (pacing.held && !clean_cut) || pacing.slow_start {
                return;
            }
            let since_cut = now.saturating_duration_since(pacing.epoch);
            if may_recover && since_cut >= RECOVER_AFTER && pacing.rate < 0.5 * answers.peak(now) {
                pacing.held = false;
                // Recovery must not take minutes: the curve from a low
                // cut (a storm of throttling, a ceiling that came back
                // up) regains slowly, and the server answered twice as
                // much within seconds.
                pacing.slow_start = true;
                self.cut = None;
                return;
            }
            if pacing.held {
                return;
            }
            let curve = cubic(&config, pacing.ceiling, since_cut);
            let cap = pacing.rate.max(2.0 * sent);
            pacing.rate = curve.min(cap).max(config.min_rate);
        }
    }

    /// The least the pace may be: [`FLOOR_SHARE`] of the answers not
    /// throttled per second over the last seconds, and never below
    /// [`CeilingConfig::min_rate`]. Cuts judged wrong (noise taken for a
    /// ceiling) can then only lower the pace as fast as the server stops
    /// answering, not compound down to the minimum; a ceiling that steps
    /// down lowers the answers, and the floor with them.
    fn floor(&mut self, now: Instant) -> f64 {
        (FLOOR_SHARE * self.answers.rate(now)).max(self.config.min_rate)
    }
}

/// The most background a controller learns: throttling of a share above
/// it is someone's ceiling (another process's share of it, say), and a
/// background that high would hide it.
const MAX_LEARNED_NOISE: f64 = 0.4;

/// The background whose spread a round must exceed (by four standard
/// deviations) to be congested when less is learned.
const MIN_BACKGROUND: f64 = 0.02;

/// The share of the rate of answers not throttled (over
/// [`FLOOR_SPAN`]) below which a cut never takes the pace: a server whose
/// bucket held two seconds' worth shows at most twice its rate over the
/// span, and the floor stays under the `beta` of a cut.
const FLOOR_SHARE: f64 = 0.3;

/// A congested round's estimate of the ceiling is at most this many times
/// the rate of answers not throttled lately.
const SHOWN_MARGIN: f64 = 1.25;

/// How far back the floor looks: long next to any server's burst.
const FLOOR_SPAN: u32 = 2;

/// How far back [`AnswerMeter::peak`] looks: a pace far below what the
/// server answered this recently is climbing back, not held by a ceiling.
const PEAK_SPAN: u32 = 30;

/// Once a cut is this old with no round congested since, a pace under
/// half the recent peak of answers grows in slow start again.
const RECOVER_AFTER: Duration = Duration::from_secs(2);

/// Answers the cubic curve waits for before regaining the ceiling, at
/// paces so slow that [`CeilingConfig::regain`] holds fewer. Two, not a
/// round's worth (20): a process cut to 1/s while others shared its
/// ceiling (`--shard k/N` runs whose start waves met at COS's burst) took
/// 20 s to regain 1/s and over a minute to reach 13/s with nothing
/// throttled, and finished minutes after the others; a ceiling that low
/// still throttles the next round, which cuts again.
const REGAIN_EVIDENCE: f64 = 2.0;

/// Whether `after` throttled a larger share than `before`, by more than
/// three standard deviations (a two-proportion test).
fn significantly_higher(after: &Round, before: &Round) -> bool {
    exceeds(after, before, 3.0)
}

/// Whether `after` throttled a larger share than `before` by more than
/// `deviations` standard deviations (a two-proportion test).
fn exceeds(after: &Round, before: &Round, deviations: f64) -> bool {
    let (n1, n2) = (f64::from(before.answered), f64::from(after.answered));
    if n1 == 0.0 || n2 == 0.0 {
        return false;
    }
    let pooled = f64::from(before.throttled + after.throttled) / (n1 + n2);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    after.share() - before.share() > deviations * spread
}

/// The CUBIC window, scaled to the ceiling: `beta·ceiling` at the cut,
/// flat at `ceiling` after [`regain`], then growing ever faster.
fn cubic(config: &CeilingConfig, ceiling: f64, since_cut: Duration) -> f64 {
    let regain = regain(config, ceiling).as_secs_f64();
    let scale = (1.0 - config.beta) / regain.powi(3);
    let t = since_cut.as_secs_f64() - regain;
    ceiling * (1.0 + scale * t.powi(3))
}

/// How long the curve takes back to the ceiling: [`CeilingConfig::regain`],
/// or longer at paces so slow that [`REGAIN_EVIDENCE`] answers take more:
/// the curve must not outrun all evidence that it has gone too far.
fn regain(config: &CeilingConfig, ceiling: f64) -> Duration {
    let evidence = REGAIN_EVIDENCE / ceiling.max(config.min_rate);
    config
        .regain
        .max(Duration::from_secs_f64(evidence.min(3600.0)))
}

/// Sends over the last second, in quarter-second buckets.
#[derive(Debug, Clone)]
struct SendMeter {
    origin: Instant,
    /// The bucket `counts[current % 4]` counts into.
    current: u64,
    counts: [u64; 4],
}

const METER_BUCKET: Duration = Duration::from_millis(250);

impl SendMeter {
    fn new(now: Instant) -> Self {
        SendMeter {
            origin: now,
            current: 0,
            counts: [0; 4],
        }
    }

    fn advance(&mut self, now: Instant) {
        let bucket = (now.saturating_duration_since(self.origin).as_millis()
            / METER_BUCKET.as_millis()) as u64;
        if bucket <= self.current {
            return;
        }
        let stale = (bucket - self.current).min(4);
        for step in 1..=stale {
            self.counts[((self.current + step) % 4) as usize] = 0;
        }
        self.current = bucket;
    }

    fn record(&mut self, now: Instant) {
        self.advance(now);
        self.counts[(self.current % 4) as usize] += 1;
    }

    /// Requests per second over the three last whole buckets and the
    /// current part of one (over less at the start; at least 10 ms, so the
    /// first wave does not measure as infinite).
    fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let since_origin = now.saturating_duration_since(self.origin);
        let into_bucket = since_origin.as_nanos() % METER_BUCKET.as_nanos();
        let covered = (3 * METER_BUCKET + Duration::from_nanos(into_bucket as u64))
            .min(since_origin)
            .as_secs_f64()
            .max(0.01);
        self.counts.iter().sum::<u64>() as f64 / covered
    }
}

/// Answers over the last [`PEAK_SPAN`] seconds, in one-second buckets.
#[derive(Debug, Clone)]
struct AnswerMeter {
    origin: Instant,
    current: u64,
    counts: [u64; PEAK_SPAN as usize + 1],
}

impl AnswerMeter {
    fn new(now: Instant) -> Self {
        AnswerMeter {
            origin: now,
            current: 0,
            counts: [0; PEAK_SPAN as usize + 1],
        }
    }

    fn advance(&mut self, now: Instant) {
        let second = now.saturating_duration_since(self.origin).as_secs();
        let len = self.counts.len() as u64;
        let stale = second.saturating_sub(self.current).min(len);
        for step in 1..=stale {
            self.counts[((self.current + step) % len) as usize] = 0;
        }
        self.current = self.current.max(second);
    }

    fn record(&mut self, now: Instant) {
        self.advance(now);
        let len = self.counts.len() as u64;
        self.counts[(self.current % len) as usize] += 1;
    }

    /// Answers in the current second and the `whole` before it.
    fn recent(&self, whole: u32) -> u64 {
        let len = self.counts.len() as u64;
        (0..=u64::from(whole).min(self.current))
            .map(|back| self.counts[((self.current - back) % len) as usize])
            .sum()
    }

    /// Answers per second over [`FLOOR_SPAN`], or the time since the start
    /// if shorter (at least 10 ms).
    fn rate_lately(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let since = now.saturating_duration_since(self.origin).as_secs_f64();
        let span = (f64::from(FLOOR_SPAN) + since.fract()).min(since).max(0.01);
        self.recent(FLOOR_SPAN) as f64 / span
    }

    /// Answers per second over the whole of [`FLOOR_SPAN`], however long
    /// the run has been going: a server's burst at the start counts for a
    /// part of it.
    fn rate(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let into = now
            .saturating_duration_since(self.origin)
            .as_secs_f64()
            .fract();
        self.recent(FLOOR_SPAN) as f64 / (f64::from(FLOOR_SPAN) + into)
    }

    /// The most answers in one whole second of the last [`PEAK_SPAN`].
    fn peak(&mut self, now: Instant) -> f64 {
        self.advance(now);
        let len = self.counts.len() as u64;
        (1..=u64::from(PEAK_SPAN).min(self.current))
            .map(|back| self.counts[((self.current - back) % len) as usize])
            .max()
            .unwrap_or(0) as f64
    }
}

mod start;
#[cfg(test)]
mod tests;
