/*
 * fuzz_seeds.c — writes the starting corpus of each fuzz target into DIR/<target>/: a few
 * well-formed inputs (valid envelopes, requests, a whole take stream, a sidecar) from
 * which libFuzzer mutates. Generated from the real encoders at build time, so the seeds
 * follow the protocol as it changes; nothing binary is kept in the repository.
 *
 * usage: fuzz_seeds DIR
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bb_fs.h"
#include "node.pb-c.h"
#include "operator.pb-c.h"
#include "rpc.pb-c.h"
#include "take_raw.h"

static const char *s_dir;

static void s_write(const char *target, const char *name, const uint8_t *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", s_dir, target);
    bb_mkdir_p(path);
    snprintf(path, sizeof path, "%s/%s/%s", s_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

/* An envelope around a packed request, led by its frame length (fuzz_rpc_envelope). */
static void s_envelope(const char *name, const char *method, const ProtobufCMessage *req)
{
    uint8_t payload[512], frame[600], out[640];
    Bb__RpcFrame f = BB__RPC_FRAME__INIT;
    f.kind = BB__RPC_FRAME__KIND__REQUEST;
    f.call_id = 7;
    f.method = (char *)method;
    f.payload.data = payload;
    f.payload.len = req ? protobuf_c_message_pack(req, payload) : 0;
    size_t n = bb__rpc_frame__pack(&f, frame);
    if (n > 255)
        n = 255;
    out[0] = 0;
    out[1] = (uint8_t)n;
    memcpy(out + 2, frame, n);
    s_write("rpc_envelope", name, out, n + 2);
}

/* A method pick and a payload (fuzz_requests). */
static void s_request(const char *name, const ProtobufCServiceDescriptor *svc, const char *method,
                      const ProtobufCMessage *req)
{
    size_t n_link = bb__node_link__descriptor.n_methods;
    const ProtobufCMethodDescriptor *m =
        protobuf_c_service_descriptor_get_method_by_name(svc, method);
    uint8_t out[2048];
    out[0] = (uint8_t)((m - svc->methods) + (svc == &bb__operator__descriptor ? n_link : 0));
    size_t n = protobuf_c_message_pack(req, out + 1);
    s_write("requests", name, out, n + 1);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_seeds DIR\n");
        return 2;
    }
    s_dir = argv[1];

    Bb__ListNodesRequest list = BB__LIST_NODES_REQUEST__INIT;
    Bb__BatchRequest batch = BB__BATCH_REQUEST__INIT;
    batch.batch_id = 1;
    Bb__HeartbeatRequest hb = BB__HEARTBEAT_REQUEST__INIT;
    hb.name = "fuzz-node";
    hb.session = "fuzz-session";
    Bb__TakeJob job = BB__TAKE_JOB__INIT;
    job.take_id = "b1-i0-s0-a1";
    job.batch_id = 1;
    job.note = 60;
    job.velocity = 100;
    job.round_robin = 1;
    Bb__TakeFormat fmt = BB__TAKE_FORMAT__INIT;
    fmt.sample_rate = 48000;
    fmt.channels = 2;
    Bb__TakeBeginRequest begin = BB__TAKE_BEGIN_REQUEST__INIT;
    begin.node = "fuzz-node";
    begin.job = &job;
    begin.format = &fmt;
    uint8_t chunk_data[64] = {0};
    Bb__TakeChunkRequest chunk = BB__TAKE_CHUNK_REQUEST__INIT;
    chunk.take_id = "b1-i0-s0-a1";
    chunk.data.data = chunk_data;
    chunk.data.len = sizeof chunk_data;
    Bb__TakeEndRequest end = BB__TAKE_END_REQUEST__INIT;
    end.take_id = "b1-i0-s0-a1";
    end.frames = 8;
    end.chunks = 1;
    end.note_off_frame = 4;
    uint32_t vels[] = {64, 127};
    Bb__InstrumentSpec inst = BB__INSTRUMENT_SPEC__INIT;
    inst.name = "Seed";
    inst.node = "fuzz-node";
    inst.note_lo = 60;
    inst.note_hi = 62;
    inst.step = 1;
    inst.velocities = vels;
    inst.n_velocities = 2;
    inst.round_robins = 1;
    inst.hold_ms = 200;
    inst.release_ms = 200;
    Bb__InstrumentSpec *insts[] = {&inst};
    Bb__ExportSpec ex = BB__EXPORT_SPEC__INIT;
    Bb__BatchSpec spec = BB__BATCH_SPEC__INIT;
    spec.name = "seed";
    spec.instruments = insts;
    spec.n_instruments = 1;
    spec.export = &ex;

    s_envelope("list-nodes", "/bb.Operator/ListNodes", &list.base);
    s_envelope("get-batch", "/bb.Operator/GetBatch", &batch.base);
    s_envelope("heartbeat", "/bb.NodeLink/Heartbeat", &hb.base);
    s_envelope("no-method", "/bb.Nothing/Here", NULL);

    s_request("heartbeat", &bb__node_link__descriptor, "Heartbeat", &hb.base);
    s_request("take-begin", &bb__node_link__descriptor, "TakeBegin", &begin.base);
    s_request("take-chunk", &bb__node_link__descriptor, "TakeChunk", &chunk.base);
    s_request("take-end", &bb__node_link__descriptor, "TakeEnd", &end.base);
    s_request("submit", &bb__operator__descriptor, "SubmitBatch", &spec.base);
    s_request("get-batch", &bb__operator__descriptor, "GetBatch", &batch.base);
    s_request("list-takes", &bb__operator__descriptor, "ListTakes", &batch.base);

    /* begin (id 0, batch 1, 48 kHz, 2 channels, 64 KiB), chunk 0 of 64 bytes, end with the
     * true CRC (0), 8 frames, note-on 0 (100 - 100), note-off 4, 1 chunk */
    uint8_t stream[128] = {0, 0, 1, 1, 2, 0x01, 0x00, 0x00, 1, 0, 0, 0, 64};
    size_t n = 13 + 64;
    uint8_t end_ops[] = {2, 0, 0, 8, 0, 100, 0, 104, 0, 1};
    memcpy(stream + n, end_ops, sizeof end_ops);
    n += sizeof end_ops;
    s_write("take_stream", "whole-take", stream, n);

    dsp_raw_meta_t meta = {.note = 60,
                           .velocity = 100,
                           .round_robin = 1,
                           .note_on_frame = 4800,
                           .note_off_frame = 52800,
                           .frames = 96000,
                           .sample_rate = 48000,
                           .channels = 2};
    snprintf(meta.take_id, sizeof meta.take_id, "b1-i0-s0-a1");
    snprintf(meta.instrument, sizeof meta.instrument, "Seed Piano");
    snprintf(meta.node, sizeof meta.node, "node-a");
    char path[1024];
    snprintf(path, sizeof path, "%s/sidecar", s_dir);
    bb_mkdir_p(path);
    snprintf(path, sizeof path, "%s/sidecar/take.json", s_dir);
    if (dsp_raw_write_sidecar(path, &meta) != 0) {
        perror(path);
        return 1;
    }
    return 0;
}
