//! How fast to send when COS throttles: a controller that finds an unknown
//! rate ceiling, and what a `Retry-After` header asks for.
//!
//! [`CeilingController`] owns the decisions only: a plain state machine
//! whose every method takes the time from its caller; nothing reads a
//! clock, sleeps or does I/O, so it is tested against simulated servers.
//! [`super::Pacer`] is the shared wrapper the executor's tasks use. Its
//! only signals are "accepted" and "throttled"; failures are
//! [`super::outage`]'s business.
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
//! 4. a cut is anchored on what the server accepted, capped by what its
//!    answers show over longer stretches;
//! 5. every cut is an experiment: throttling that goes on at the same share
//!    below the cut is noise, and the cuts are undone;
//! 6. the cubic curve regains the ceiling in [`CeilingConfig::regain`] at
//!    any rate;
//! 7. shares are read with confidence intervals and sequential tests.
//!
//! Growth is capped at twice the measured send rate (as in AWS), so a phase
//! where the run sends less than allowed cannot build up a burst.

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
    accepted: AcceptedHistory,
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
        if self.answered == 0 {
            return 0.0;
        }
        let n = f64::from(self.answered);
        let p = self.share();
        let centre = p + 0.5 / n;
        let spread = (p * (1.0 - p) / n + 0.25 / (n * n)).sqrt();
        ((centre - spread) / (1.0 + 1.0 / n)).max(0.0)
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
            rtt: Duration::ZERO,
            round: Round::new(now),
            previous: None,
            pacing: None,
            noise: 0.0,
            cut: None,
            unsettled_peak: 0.0,
            cuts: 0,
            accepted: AcceptedHistory::default(),
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
                let wait = Duration::from_secs_f64((1.0 - pacing.tokens) / pacing.rate);
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
            self.accepted.total += 1;
        }
        if self.pacing.is_none() {
            self.on_unpaced_answer(now, sent_at, throttled);
            return;
        }
        if sent_at < self.round.start {
            // An answer about a pace this round no longer uses; a cut
            // already reacted to it.
            return;
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

    fn next_round(&mut self, now: Instant) {
        self.previous = Some(self.round);
        self.round = Round::new(now);
        self.accepted.sample(now);
    }

    /// The first throttle after the burst horizon, with no noise learned:
    /// the rate being sent times the cautious accepted share of the answers
    /// so far. Both over more than the current round, which may be young:
    /// the rate over the last second, the share with the round before.
    /// Within the burst horizon (lock-step ended early) the server's burst
    /// may still be in what it accepted, and the first estimate bounds it.
    fn start_pacing(&mut self, now: Instant) {
        let sent = self.sends.rate(now).max(self.config.min_rate);
        let before = match self.previous {
            Some(previous) => previous.merged(&self.round),
            None => self.round,
        };
        let mut ceiling = sent * (1.0 - before.throttled_share_low());
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
        if self.congested(&pooled) {
            let ceiling = self.accepted_rate(&round, now);
            self.begin_pacing(now, pooled, round.send_rate(now), ceiling);
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
                if self.congested(&pooled) {
                    let rate = self.current_rate().unwrap_or(0.0);
                    let measured = self.measured_ceiling(&round, now);
                    let ceiling = self.congestion_ceiling(now, measured);
                    self.begin_cut(now, pooled, round.send_rate(now), ceiling, rate, false);
                }
            }
        }
        if self.round.start < now {
            self.next_round(now);
        }
    }

    /// The ceiling to cut to when a round is congested: what it `measured`
    /// the server to accept, or less if the server's answers show it takes
    /// less. The round overestimates when the server's bucket still held
    /// some of its burst during it, the usual case after pacing below the
    /// ceiling (which lets the bucket refill) and probing above it. Two
    /// things show the server's rate: since the last cut (its bucket
    /// empty then and now) it accepted its rate times the time between,
    /// unless its bucket overflowed; and over any stretch it accepted at
    /// most its rate times the stretch plus a burst, which is exact from a
    /// moment its bucket was full. So the larger of the two is its rate
    /// whether or not it overflowed. Both count accepted answers; the pace
    /// must also carry the noise's rejections.
    fn congestion_ceiling(&self, now: Instant, measured: f64) -> f64 {
        let since_cut = self.accepted.rate_since_cut(now);
        let bound = self.accepted.lower_bound(now, self.config.burst_horizon);
        let shown = since_cut.max(bound) / (1.0 - self.noise);
        if shown > 0.0 {
            measured.min(shown)
        } else {
            measured
        }
    }

    /// What a congested round shows the server accepts. A round judged
    /// early (on its third throttle) spans a few milliseconds: too short
    /// to measure a rate, and its share is read high (it stopped at a
    /// throttle). It is measured with the round before it; if that reads
    /// high, [`Self::congestion_ceiling`] bounds it, and a pace still over
    /// the ceiling is cut again by its experiment.
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
    fn congested(&self, round: &Round) -> bool {
        self.stands_out(round, self.noise)
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
            self.noise += (share - self.noise) * weight;
        }
        if trusted && !self.stands_out(&cut.before, self.noise.max(share)) {
            self.noise = self.noise.max(share);
            self.undo(now, cut.undo_rate);
            return;
        }
        // The curve starts climbing from here.
        if let Some(pacing) = &mut self.pacing {
            pacing.held = false;
            pacing.epoch = now;
        }
        self.unsettled_peak = 0.0;
    }

    /// Whether `round` would count as congested against `background`.
    fn stands_out(&self, round: &Round, background: f64) -> bool {
        let answers = f64::from(round.answered.max(1));
        let spread = (background * (1.0 - background) / answers).sqrt();
        round.share() > background + 0.02 + 4.0 * spread
    }

    /// What the server accepted of `round`'s sends, beyond the noise.
    fn accepted_rate(&self, round: &Round, now: Instant) -> f64 {
        round.send_rate(now) * (1.0 - self.excess_share(round))
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
        let ceiling = ceiling.max(self.config.min_rate);
        let config = self.config;
        if let Some(pacing) = &mut self.pacing {
            pacing.ceiling = ceiling;
            pacing.rate = (config.beta * ceiling).max(config.min_rate);
            pacing.epoch = now;
            pacing.held = true;
            pacing.tokens = pacing.tokens.min(0.0);
            pacing.refilled = now;
        }
        self.cuts += 1;
        self.accepted.sample(now);
        self.accepted.cut_at = Some((now, self.accepted.total));
        self.previous = None;
        self.unsettled_peak = self.unsettled_peak.max(undo_rate);
        self.cut = Some(Cut {
            undo_rate,
            second,
            before,
            before_rate,
            after: Round::new(now),
        });
        self.round = Round::new(now);
    }

    fn judge_cut(&mut self, now: Instant, cut: Cut) {
        match self.verdict(now, &cut) {
            Verdict::Wait => self.cut = Some(cut),
            Verdict::Respected => self.judge_experiment(now, cut),
            Verdict::Worse => {
                let ceiling = self.accepted_rate(&cut.after, now);
                let rate = cut.after.send_rate(now);
                let pace = self.current_rate().unwrap_or(rate);
                self.begin_cut(now, cut.after, rate, ceiling, pace, false);
            }
            Verdict::Unexplained if cut.second => {
                // Twice in a row, slowing down did not stop it: noise, and
                // so was every cut since one was last respected.
                self.noise = self.noise.max(cut.after.share());
                self.undo(now, cut.undo_rate.max(self.unsettled_peak));
            }
            Verdict::Unexplained => {
                let ceiling = self.accepted_rate(&cut.after, now);
                let rate = cut.after.send_rate(now);
                self.begin_cut(now, cut.after, rate, ceiling, cut.undo_rate, true);
            }
        }
    }

    /// Judges the answers since a cut against those that caused it.
    ///
    /// Much more throttling than before the cut, or most answers
    /// throttled, is [`Verdict::Worse`] at once. Otherwise two hypotheses
    /// compete in a sequential probability ratio test (Wald's SPRT, odds of
    /// 19 to 1 either way) over at least two rounds' worth of answers: a
    /// respected ceiling, which predicts [`Self::predicted_share`], and
    /// noise, which predicts the share seen before the cut (at least five
    /// points above the ceiling's: smaller noise cannot be told apart, and
    /// does little harm). A share above what a ceiling allows (by three
    /// standard deviations) that is not noise-like is a pace still over
    /// the ceiling. A slow pace that never gathers the answers is let go
    /// after four rounds' time rather than held forever.
    fn verdict(&self, now: Instant, cut: &Cut) -> Verdict {
        let (before, after) = (&cut.before, &cut.after);
        let enough = self.config.round_answers;
        if (after.throttled_share_low() > self.config.max_noise && after.answered * 2 >= enough)
            || (after.answered >= enough && significantly_higher(after, before))
        {
            return Verdict::Worse;
        }
        let ceiling = self.predicted_share(now, cut).min(0.9);
        let noise = before.share().max(ceiling + 0.05).min(0.95);
        let (k, n) = (f64::from(after.throttled), f64::from(after.answered));
        let odds = k * (noise / ceiling).ln() + (n - k) * ((1.0 - noise) / (1.0 - ceiling)).ln();
        let decisive = 19f64.ln();
        // More throttling than a respected ceiling can show, whichever
        // hypothesis is closer: still over the ceiling.
        let over = after.answered >= enough
            && after.share() > ceiling + 3.0 * (ceiling * (1.0 - ceiling) / n).sqrt();
        let held_long = now.saturating_duration_since(after.start) >= 4 * self.config.max_round;
        // Not before two rounds' worth: stopping as soon as the odds allow
        // would stop on runs of luck, and the sample also measures noise.
        let sampled = after.answered >= 2 * enough;
        if sampled
            && odds >= decisive
            && after.throttled >= 2
            && after.share() <= self.config.max_noise
        {
            Verdict::Unexplained
        } else if over && (sampled || held_long) {
            Verdict::Worse
        } else if !over && ((sampled && odds <= -decisive) || (held_long && after.answered > 0)) {
            Verdict::Respected
        } else {
            Verdict::Wait
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

    /// Moves the pace along the cubic curve, growing at most to twice the
    /// measured send rate.
    fn regrow(&mut self, now: Instant) {
        let config = self.config;
        let sent = self.sends.rate(now);
        if let Some(pacing) = &mut self.pacing {
            if pacing.held {
                return;
            }
            let since_cut = now.saturating_duration_since(pacing.epoch);
            let curve = cubic(&config, pacing.ceiling, since_cut);
            let cap = pacing.rate.max(2.0 * sent);
            pacing.rate = curve.min(cap).max(config.min_rate);
        }
    }
}

/// Whether `after` throttled a larger share than `before`, by more than
/// three standard deviations (a two-proportion test).
fn significantly_higher(after: &Round, before: &Round) -> bool {
    let (n1, n2) = (f64::from(before.answered), f64::from(after.answered));
    if n1 == 0.0 || n2 == 0.0 {
        return false;
    }
    let pooled = f64::from(before.throttled + after.throttled) / (n1 + n2);
    let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    after.share() - before.share() > 3.0 * spread
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
/// or longer at paces so slow that a round's worth of answers takes more
/// (20 answers at 2/s take 10 s): the curve must not outrun the evidence
/// that it has gone too far.
fn regain(config: &CeilingConfig, ceiling: f64) -> Duration {
    let evidence = f64::from(config.round_answers) / ceiling.max(config.min_rate);
    config
        .regain
        .max(Duration::from_secs_f64(evidence.min(3600.0)))
}

/// Accepted answers: how many so far, how many at the last cut, and how
/// many at times over the last half minute (sampled as rounds end).
#[derive(Debug, Clone, Default)]
struct AcceptedHistory {
    total: u64,
    cut_at: Option<(Instant, u64)>,
    samples: std::collections::VecDeque<(Instant, u64)>,
}

/// How far back [`AcceptedHistory`] looks, and in how many samples at most.
const HISTORY: Duration = Duration::from_secs(30);
const HISTORY_SAMPLES: usize = 1024;

impl AcceptedHistory {
    fn sample(&mut self, now: Instant) {
        self.samples.push_back((now, self.total));
        while self.samples.len() > HISTORY_SAMPLES
            || self
                .samples
                .front()
                .is_some_and(|(at, _)| now.saturating_duration_since(*at) > HISTORY)
        {
            self.samples.pop_front();
        }
    }

    /// Accepted answers per second since the last cut; 0 without one.
    fn rate_since_cut(&self, now: Instant) -> f64 {
        let Some((at, then)) = self.cut_at else {
            return 0.0;
        };
        let since = now.saturating_duration_since(at).as_secs_f64();
        if since > 0.0 {
            (self.total - then) as f64 / since
        } else {
            0.0
        }
    }

    /// The least rate a server with a bucket of `burst` at its rate must
    /// have to have accepted what it did: over any stretch of time it
    /// accepts at most its rate times the stretch plus the burst. The
    /// stretch that gives the most is used; from a moment its bucket was
    /// full, this is its rate.
    fn lower_bound(&self, now: Instant, burst: Duration) -> f64 {
        self.samples
            .iter()
            .map(|(at, then)| {
                let stretch = now.saturating_duration_since(*at) + burst;
                (self.total - then) as f64 / stretch.as_secs_f64()
            })
            .fold(0.0, f64::max)
    }
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

mod start;
#[cfg(test)]
mod tests;
