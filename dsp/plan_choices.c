/*
 * plan_choices.c — the tables of plan_choices.h and their lookups.
 */
#include "plan_choices.h"

#include <stdio.h>
#include <string.h>

#include "bb_err.h"
#include "export.h"
#include "node.pb-c.h"
#include "pipeline.h"

#define S_TABLE(name, what, ...)                                                                   \
    static const dsp_choice_t name##_items[] = {__VA_ARGS__};                                      \
    const dsp_choices_t name = {what, name##_items, sizeof name##_items / sizeof name##_items[0]}

S_TABLE(dsp_choices_format, "format", {"wav", 0, "WAV (smpl and bext chunks)"},
        {"flac", 1, "FLAC, 16 or 24 bits"});
S_TABLE(dsp_choices_bit_depth, "bit depth", {"16", 16, "16-bit PCM, TPDF dither"},
        {"24", 24, "24-bit PCM"}, {"32", 32, "32-bit float, WAV only"});
S_TABLE(dsp_choices_normalise, "normalise", {"instrument", DSP_NORM_INSTRUMENT, "one gain"},
        {"velocity", DSP_NORM_VELOCITY, "one gain per velocity layer"},
        {"sample", DSP_NORM_SAMPLE, "every sample to the peak"},
        {"none", DSP_NORM_NONE, "as recorded"});
S_TABLE(dsp_choices_map, "map", {"centred", DSP_MAP_CENTRED, "halfway to the neighbours"},
        {"centered", DSP_MAP_CENTRED, NULL}, {"upward", DSP_MAP_UPWARD, "up to the next sample"});
S_TABLE(dsp_choices_fade_curve, "fade curve", {"linear", DSP_FADE_LINEAR, NULL},
        {"equal-power", DSP_FADE_EQUAL_POWER, NULL}, {"exponential", DSP_FADE_EXPONENTIAL, NULL});
S_TABLE(dsp_choices_end_mode, "end mode",
        {"noise", DSP_END_NOISE, "the tail reaches the noise floor"},
        {"below-peak", DSP_END_BELOW_PEAK, "the tail falls end-below-peak dB under the peak"});
S_TABLE(dsp_choices_release_policy, "release policy",
        {"adaptive", BB__RELEASE_POLICY__RELEASE_ADAPTIVE, "end when the tail is quiet"},
        {"fixed", BB__RELEASE_POLICY__RELEASE_FIXED, "always the whole release"});

int dsp_choice_parse(const dsp_choices_t *c, const char *word, int *value)
{
    for (size_t i = 0; word && i < c->n; i++) {
        if (strcmp(word, c->items[i].word) == 0) {
            *value = c->items[i].value;
            return 0;
        }
    }
    return BB_EINVAL;
}

const char *dsp_choice_name(const dsp_choices_t *c, int value)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].value == value)
            return c->items[i].word;
    return "?";
}

/* An alias repeats the value of an earlier entry. */
static int s_alias(const dsp_choices_t *c, size_t i)
{
    for (size_t k = 0; k < i; k++)
        if (c->items[k].value == c->items[i].value)
            return 1;
    return 0;
}

void dsp_choice_list(const dsp_choices_t *c, char *out, size_t len)
{
    size_t canonical = 0;
    for (size_t i = 0; i < c->n; i++)
        canonical += !s_alias(c, i);
    size_t used = 0, k = 0;
    if (len)
        out[0] = '\0';
    for (size_t i = 0; i < c->n && used < len; i++) {
        if (s_alias(c, i))
            continue;
        const char *sep = k == 0 ? "" : k + 1 == canonical ? " or " : ", ";
        int w = snprintf(out + used, len - used, "%s%s", sep, c->items[i].word);
        if (w < 0)
            break;
        used += (size_t)w;
        k++;
    }
}

int dsp_choice_check(const dsp_choices_t *c, const char *word, int allow_empty, int *value,
                     char *msg, size_t len)
{
    if (allow_empty && (!word || !*word))
        return 0;
    if (dsp_choice_parse(c, word, value) == 0)
        return 0;
    char list[200];
    dsp_choice_list(c, list, sizeof list);
    snprintf(msg, len, "%s '%s': use %s", c->what, word ? word : "", list);
    return BB_EINVAL;
}
