//! The start of a run, before the first cut: lock-step waves while a
//! server's burst may still hide its ceiling, the probe that tells a
//! ceiling from noise, and the first estimate of the ceiling (see the
//! module documentation of [`super`], design points 1 and 2).

use std::time::Instant;

use super::{CeilingController, Pacing, Round};

/// What the start has seen so far.
#[derive(Debug, Clone)]
pub(super) struct Start {
    /// When the first request was sent: the burst horizon counts from it.
    pub(super) first_send: Option<Instant>,
    wave: Wave,
    /// A partly throttled wave under test by probes.
    suspect: Option<Suspect>,
    /// The answers the noise was learned from, and every wave since that
    /// did not stand out against them.
    noise_sample: Option<Round>,
    /// Whether any answer in lock-step was throttled.
    throttled: bool,
    /// Lock-step ended early: see [`super::CeilingConfig::lockstep_until`].
    free: bool,
}

impl Start {
    pub(super) fn new(now: Instant, initial_wave: u32) -> Self {
        let mut wave = Wave::new(now);
        wave.limit = Some(u64::from(initial_wave));
        Start {
            first_send: None,
            wave,
            suspect: None,
            noise_sample: None,
            throttled: false,
            free: false,
        }
    }
}

/// A partly throttled wave, and the probes sent after it so far.
#[derive(Debug, Clone, Copy)]
struct Suspect {
    wave: Round,
    ended: Instant,
    probes: Round,
    probed: u32,
}

/// Noise a probe may learn: more is only believed once slowing down did
/// not ease it (a server with a shorter burst than assumed refills a
/// probe faster, and looks noisy).
const PROBE_NOISE_MAX: f64 = 0.5;

/// At most this many probes after a wave: a ceiling usually shows in one,
/// noise in one or two.
const MAX_PROBES: u32 = 3;

/// The odds a probe needs to show noise: 19 to 1.
const NOISE_ODDS: f64 = 19.0;

/// The odds a probe needs to show a ceiling: 49 to 1. Higher than for
/// noise because mistaking noise for a ceiling costs more (the run is
/// paced at the first estimate until experiments undo it, slowly at a slow
/// pace) than probing once more costs behind a ceiling (a few rejections).
const CEILING_ODDS: f64 = 49.0;

/// A probe is this many times the refill a ceiling would give it, beyond
/// [`CeilingConfig::probe`], so a ceiling still rejects most of it (two
/// thirds or more) when round trips are slow.
const PROBE_PER_REFILL: f64 = 3.0;

/// The requests sent since the last wave ended.
#[derive(Debug, Clone, Copy)]
struct Wave {
    counts: Round,
    /// When its first answer came.
    first_answer: Option<Instant>,
    /// At most this many are sent (a probe).
    limit: Option<u64>,
}

impl Wave {
    fn new(now: Instant) -> Self {
        Wave {
            counts: Round::new(now),
            first_answer: None,
            limit: None,
        }
    }

    /// Whether sends must wait for the rest of the wave: once its first
    /// answer is in, or a probe is all sent.
    ///
    /// All of the rest, not only the answers already due: a server that
    /// answers at the end of its latency in arrival order, as the
    /// emulator does, hands its last tokens to the requests sent first,
    /// so a wave's accepted answers come back ahead of its rejections,
    /// and a first wave's sends are spread by connecting and signing. A
    /// client that trickles requests pays for it, up to a third of its
    /// sends in the first second.
    fn is_full(&self) -> bool {
        self.first_answer.is_some() || self.limit.is_some_and(|limit| self.counts.sent >= limit)
    }
}

impl CeilingController {
    /// Whether sends still go in lock-step waves: not yet paced, and within
    /// the burst horizon of the first send.
    pub(super) fn in_lockstep(&self, now: Instant) -> bool {
        self.pacing.is_none() && !self.start.free && self.within_burst_horizon(now)
    }

    /// Whether the run has sent for less than the burst horizon.
    pub(super) fn within_burst_horizon(&self, now: Instant) -> bool {
        self.start
            .first_send
            .is_none_or(|first| now < first + self.config.burst_horizon)
    }

    /// Ends lock-step for good once the server has accepted, with nothing
    /// throttled but learned noise and no probe out, enough to put any
    /// ceiling of its at [`super::CeilingConfig::lockstep_until`] or more: it
    /// accepted its burst plus its rate since the first send at most, so
    /// the first estimate is a lower bound of its rate.
    pub(super) fn free_if_ceiling_ruled_out(&mut self, now: Instant) {
        let start = &self.start;
        if start.free || self.pacing.is_some() || start.suspect.is_some() {
            return;
        }
        let only_noise = !start.throttled || start.noise_sample.is_some();
        if only_noise && self.first_estimate(now) >= self.config.lockstep_until {
            self.start.free = true;
        }
    }

    /// Whether a send now fits the current wave; ends the wave first when
    /// its time is up (which may start pacing).
    pub(super) fn step(&mut self, now: Instant) -> Result<(), Instant> {
        if !self.start.wave.is_full() {
            return Ok(());
        }
        let deadline = self.wave_deadline();
        if now < deadline {
            // Woken by an answer, or at the deadline.
            return Err(deadline);
        }
        self.end_wave(now);
        Ok(())
    }

    /// Counts a send that [`Self::step`] allowed.
    pub(super) fn count_send(&mut self, now: Instant) {
        self.start.first_send.get_or_insert(now);
        if self.in_lockstep(now) {
            self.start.wave.counts.sent += 1;
        }
    }

    /// Takes back a send of the current wave that was never made, and ends
    /// the wave if the rest of it is answered.
    pub(super) fn withdraw_from_wave(&mut self, now: Instant, sent_at: Instant) {
        if !self.in_lockstep(now) {
            return;
        }
        let wave = &mut self.start.wave;
        if sent_at < wave.counts.start || wave.counts.sent == 0 {
            return;
        }
        wave.counts.sent -= 1;
        if wave.first_answer.is_some() && u64::from(wave.counts.answered) >= wave.counts.sent {
            self.end_wave(now);
        }
    }

    /// A wave is over once every request in it is answered, or half a
    /// round trip after its first answer: the rest of a wave comes within
    /// the spread of latencies, and an answer that never comes (a server
    /// error, a reset) must not hold the run. A probe still waiting for its
    /// first answer is given up on after [`CeilingConfig::max_round`].
    fn wave_deadline(&self) -> Instant {
        let wave = &self.start.wave;
        match wave.first_answer {
            Some(at) => at + at.saturating_duration_since(wave.counts.start) / 2,
            None => wave.counts.start + self.config.max_round,
        }
    }

    /// An answer while not paced.
    pub(super) fn on_unpaced_answer(&mut self, now: Instant, sent_at: Instant, throttled: bool) {
        // With no noise learned, any throttle counts, however old its
        // request: the first one after the horizon starts pacing with this
        // round's share. With noise learned, rounds are judged against it,
        // and must count old answers alike.
        if sent_at >= self.round.start || (throttled && self.noise == 0.0) {
            self.round.count(throttled);
        }
        if self.in_lockstep(now) {
            self.start.throttled |= throttled;
            let wave = &mut self.start.wave;
            if sent_at >= wave.counts.start {
                wave.counts.count(throttled);
                wave.first_answer.get_or_insert(now);
                if u64::from(wave.counts.answered) >= wave.counts.sent {
                    self.end_wave(now);
                }
            }
        } else if throttled && self.noise == 0.0 && self.congested(&self.pooled_round()) {
            self.start_pacing(now);
        } else if self.round_is_complete(now) {
            self.judge_unpaced_round(now);
        }
    }

    /// Decides what a finished wave means, and opens the next: at most
    /// twice what this one had accepted, as TCP's slow start doubles its
    /// window each round trip.
    fn end_wave(&mut self, now: Instant) {
        let wave = std::mem::replace(&mut self.start.wave, Wave::new(now));
        let counts = wave.counts;
        let accepted = u64::from(counts.answered - counts.throttled);
        let initial = u64::from(self.config.initial_wave);
        self.start.wave.limit = Some((2 * accepted).max(initial));
        if let Some(mut suspect) = self.start.suspect.take() {
            suspect.probes = suspect.probes.merged(&counts);
            suspect.probed += 1;
            self.judge_probes(now, suspect);
            return;
        }
        if let Some(sample) = self.start.noise_sample {
            self.against_noise(now, sample, counts);
        } else if self.noise > 0.0 {
            // Learned by cuts that were undone: no sample, only the share.
            if self.congested(&counts) {
                self.pace_from_start(now, counts);
            }
        } else if counts.throttled > 0 {
            self.first_throttled_wave(now, counts);
        }
    }

    /// The first wave with throttling: at once a cut if most of it was
    /// throttled (read cautiously: nine of sixteen is not "most" of a
    /// small wave) or a probe could not tell, else a probe.
    fn first_throttled_wave(&mut self, now: Instant, wave: Round) {
        if wave.throttled_share_low() > self.config.max_noise || !self.probe_can_tell(now, &wave) {
            self.pace_from_start(now, wave);
        } else {
            self.start.suspect = Some(Suspect {
                wave,
                ended: now,
                probes: Round::new(now),
                probed: 0,
            });
            self.start.wave.limit = Some(self.probe_size(now, &wave));
        }
    }

    /// The ceiling a server that hides it behind a burst of
    /// [`CeilingConfig::burst_horizon`] has shown: it accepted its burst plus
    /// its rate over the time since the first send, so that rate is at most
    /// what it accepted over that time plus the burst's.
    pub(super) fn first_estimate(&self, now: Instant) -> f64 {
        let since = self
            .start
            .first_send
            .map_or(std::time::Duration::ZERO, |first| {
                now.saturating_duration_since(first)
            });
        self.accepted as f64 / (since + self.config.burst_horizon).as_secs_f64()
    }

    /// What a server's bucket that `wave` emptied has refilled by the time
    /// a probe sent now is answered, if the ceiling is the first estimate:
    /// a wave's time's worth.
    fn refill_during_probe(&self, now: Instant, wave: &Round) -> f64 {
        let lasted = now.saturating_duration_since(wave.start);
        self.first_estimate(now) * lasted.as_secs_f64()
    }

    /// [`CeilingConfig::probe`] requests, plus [`PROBE_PER_REFILL`] times
    /// what the bucket refills.
    fn probe_size(&self, now: Instant, wave: &Round) -> u64 {
        let refill = self.refill_during_probe(now, wave);
        u64::from(self.config.probe) + (PROBE_PER_REFILL * refill).ceil() as u64
    }

    /// The throttled share a ceiling predicts for a probe of `probe`
    /// requests given `refill`.
    fn probe_share_if_ceiling(&self, refill: f64, probe: u64) -> f64 {
        (1.0 - refill / probe.max(1) as f64).clamp(0.0, 0.95)
    }

    /// Whether a probe after `wave` can tell a ceiling from noise: a
    /// ceiling must predict clearly more throttling than the wave's share.
    fn probe_can_tell(&self, now: Instant, wave: &Round) -> bool {
        let refill = self.refill_during_probe(now, wave);
        let probe = self.probe_size(now, wave);
        self.probe_share_if_ceiling(refill, probe) >= wave.share() + 0.3
    }

    /// A probe is back. Noise throttles the probes about as much as the
    /// wave before them (one share for both: the likeliest noise); behind a
    /// ceiling the wave emptied the server's bucket, so they are mostly
    /// rejected. A likelihood ratio decides: noise is learned, and sending
    /// goes on unpaced; a ceiling is cut to. Undecided, another probe goes
    /// out, up to [`MAX_PROBES`]; then it is taken as a ceiling, the safer
    /// mistake: a cut that chased noise is undone by its experiment.
    fn judge_probes(&mut self, now: Instant, suspect: Suspect) {
        let probes = suspect.probes;
        let both = suspect.wave.merged(&probes);
        let since = now.saturating_duration_since(suspect.ended);
        let refill = self.first_estimate(now) * since.as_secs_f64();
        let ceiling = self.probe_share_if_ceiling(refill, probes.sent);
        let noise = both.share().clamp(0.01, 0.95);
        let (k, n) = (f64::from(probes.throttled), f64::from(probes.answered));
        let odds = k * (noise / ceiling).ln() + (n - k) * ((1.0 - noise) / (1.0 - ceiling)).ln();
        // Most answers throttled is never noise (see `max_noise`).
        // Read cautiously: twelve throttles in twenty-three answers is
        // not "most", and forcing a ceiling on it paces a noisy run at the
        // first estimate, a few requests per second.
        let telling = ceiling > noise + 0.1 && both.throttled_share_low() <= self.config.max_noise;
        if telling && odds >= NOISE_ODDS.ln() {
            // Much noise is only believed once slowing down did not ease
            // it: pace at what the server accepted, an experiment that
            // cuts undo if it was noise.
            if both.share() > PROBE_NOISE_MAX {
                let sent = both.send_rate(now);
                let ceiling = self.accepted_rate_plain(&both, now);
                self.begin_pacing(now, both, sent, ceiling);
            } else {
                // Read low: a probe is a few dozen answers at a moment
                // when other processes' waves may throttle it too, and
                // noise learned high hides a ceiling from every round.
                self.noise = both.throttled_share_low().min(super::MAX_LEARNED_NOISE);
                self.start.noise_sample = Some(both);
            }
        } else if !telling || odds <= -CEILING_ODDS.ln() || suspect.probed >= MAX_PROBES {
            self.pace_from_start(now, both);
        } else {
            let next = self.probe_size(now, &suspect.wave);
            self.start.suspect = Some(suspect);
            self.start.wave.limit = Some(next);
        }
    }

    /// A wave after noise was learned: one that throttles more than the
    /// noise's sample, by four standard deviations of the two and two
    /// points (the sample may be small: a wave and a probe), met a ceiling.
    /// Any other wave adds to the sample: while unpaced nothing creeps over
    /// a ceiling, so the sample only sharpens.
    fn against_noise(&mut self, now: Instant, sample: Round, wave: Round) {
        let (n1, n2) = (f64::from(sample.answered), f64::from(wave.answered));
        if n2 == 0.0 {
            return;
        }
        let pooled = f64::from(sample.throttled + wave.throttled) / (n1 + n2);
        let spread = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
        let most = pooled > PROBE_NOISE_MAX;
        if most || wave.share() > sample.share() + 0.02 + 4.0 * spread {
            self.pace_from_start(now, wave);
        } else {
            let sample = sample.merged(&wave);
            self.noise = sample.share().min(super::MAX_LEARNED_NOISE);
            self.start.noise_sample = Some(sample);
        }
    }

    /// The first cut, from a wave (or a wave and its probe) within the
    /// burst horizon: to the first estimate, or to what the wave's own
    /// answers show if that is lower.
    fn pace_from_start(&mut self, now: Instant, before: Round) {
        let ceiling = self
            .first_estimate(now)
            .min(self.accepted_rate(&before, now));
        let sent = before.send_rate(now);
        self.begin_pacing(now, before, sent, ceiling);
        // The estimate is a lower bound (a server with a shorter burst
        // than assumed has a higher rate): grow from it until a round is
        // congested, and judge no cut meanwhile. Throttling that is noise
        // after all is found by the cuts that follow, and undone.
        self.cut = None;
        if let Some(pacing) = &mut self.pacing {
            pacing.held = false;
            pacing.slow_start = true;
        }
    }

    /// Paces from unpaced: a cut to `beta` times `ceiling`, judged against
    /// `before` sent at `sent` per second, whose undo is going back to
    /// unpaced.
    pub(super) fn begin_pacing(&mut self, now: Instant, before: Round, sent: f64, ceiling: f64) {
        let sent = sent.max(self.config.min_rate);
        self.pacing = Some(Pacing {
            rate: sent,
            ceiling,
            epoch: now,
            held: false,
            slow_start: false,
            tokens: 0.0,
            refilled: now,
        });
        self.start.suspect = None;
        self.begin_cut(now, before, sent, ceiling, f64::INFINITY, false);
    }

    /// Back to unpaced, the noise learned: lock-step again if still within
    /// the burst horizon.
    pub(super) fn unpace(&mut self, now: Instant) {
        self.pacing = None;
        self.start.wave = Wave::new(now);
        self.start.suspect = None;
        self.start.noise_sample = None;
        self.previous = None;
        self.round = Round::new(now);
    }
}
