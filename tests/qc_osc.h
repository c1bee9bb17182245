/*
 * qc_osc.h — classic synthesiser waveforms, band-limited up to the converter's Nyquist
 * frequency, with the envelopes of hardware synths: material for the QC corpus that no
 * sampled instrument gives (edges every period, flat sustains, slow convex swells).
 *
 * Every pitched waveform is built from one band-limited sawtooth per frequency: all
 * harmonics k * f below rate / 2, amplitude 1/k (the Fourier series of a ramp), summed
 * by an inverse FFT into a one-period wavetable of QC_OSC_TABLE points and read with
 * linear interpolation (at 65536 points the interpolation error of the highest harmonic
 * is below -120 dB of the waveform). A pulse of width w is the difference of two saws w
 * of a period apart (band-limited, no DC); a square is w = 0.5; PWM moves w with a slow
 * LFO; a supersaw sums seven detuned saws with free-running phases. The FM bell is a
 * two-operator FM pair (carrier f, modulator 3.5 f, decaying index); the noise hit is
 * white noise through a one-pole high-pass with a fast exponential decay (unpitched).
 */
#ifndef BB_QC_OSC_H
#define BB_QC_OSC_H

#include <stdbool.h>
#include <stdint.h>

#define QC_OSC_TABLE 65536 /* wavetable points per period */

typedef enum {
    QC_WAVE_SAW = 0,
    QC_WAVE_SQUARE,
    QC_WAVE_PULSE, /* width = duty cycle 0.1 .. 0.5 */
    QC_WAVE_SUPERSAW,
    QC_WAVE_PWM, /* width = centre duty cycle, moved by pwm_depth at pwm_hz */
    QC_WAVE_FM_BELL,
    QC_WAVE_NOISE_HIT,
    QC_WAVE_ORGAN, /* drawbar sines 16' 8' 5 1/3' 4' 2', flat sustain */
    QC_WAVE_COUNT
} qc_wave_t;

/* How the attack rises from 0 to 1 over attack_ms; u = time / attack in 0..1. */
typedef enum {
    QC_RISE_LINEAR = 0, /* u */
    QC_RISE_POWER,      /* u^rise_k: convex for k > 1 (swells, bowed and blown sounds) */
    QC_RISE_EXP,        /* (e^(k u) - 1) / (e^k - 1): convex exponential */
    QC_RISE_RC          /* (1 - e^(-k u)) / (1 - e^-k): an analog envelope's RC charge */
} qc_rise_t;

typedef struct {
    qc_wave_t wave;
    double width;        /* PULSE, PWM: duty cycle */
    double pwm_depth;    /* PWM: +- duty cycle */
    double pwm_hz;       /* PWM: LFO rate */
    double spread_cents; /* SUPERSAW: outermost detune */
    qc_rise_t rise;
    double attack_ms;
    double rise_k;     /* POWER: exponent; EXP, RC: steepness */
    double decay_s;    /* time constant towards sustain after the attack; 0: none */
    double sustain;    /* level held (0..1) while the key is down */
    double release_ms; /* time constant after the note-off */
    double trem_db;    /* tremolo: the level swings +- this many dB (0: none)... */
    double trem_hz;    /* ...at this rate, from a random phase */
} qc_osc_patch_t;

const char *qc_osc_wave_name(qc_wave_t wave);
/* Whether the waveform has a pitch a tracker should find (not the noise hit). */
bool qc_osc_pitched(qc_wave_t wave);

/* Renders one note into out (stereo interleaved, room for max_frames): note-on at frame
 * 0, note-off at hold frames, the release until the level falls below -100 dBFS or
 * max_frames. amp is the peak the envelope aims at. Returns the frames written, or -1 when
 * out of memory. The first sample is the envelope's zero: the note starts at frame 0. */
int64_t qc_osc_render(const qc_osc_patch_t *patch, double freq_hz, double amp, int rate,
                      int64_t hold, int64_t max_frames, uint32_t seed, float *out);

#endif
