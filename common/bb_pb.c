/*
 * bb_pb.c — deep copy by pack + unpack (bb_pb.h).
 */
#include "bb_pb.h"

#include <stdint.h>
#include <stdlib.h>

ProtobufCMessage *bb_pb_copy(const ProtobufCMessage *msg)
{
    if (!msg)
        return NULL;
    size_t len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return NULL;
    protobuf_c_message_pack(msg, buf);
    ProtobufCMessage *copy = protobuf_c_message_unpack(msg->descriptor, NULL, len, buf);
    free(buf);
    return copy;
}
