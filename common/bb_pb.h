/*
 * bb_pb.h — a deep copy of any protobuf-c message.
 *
 * protobuf-c has no copy function. Packing the message and unpacking the bytes with its
 * own descriptor gives an independent copy in one allocation tree, which the type's
 * free_unpacked (or protobuf_c_message_free_unpacked) releases like any decoded message.
 */
#ifndef BB_PB_H
#define BB_PB_H

#include <protobuf-c/protobuf-c.h>

/* A copy of msg, or NULL when out of memory (or msg is NULL). */
ProtobufCMessage *bb_pb_copy(const ProtobufCMessage *msg);

/* Typed form: BB_PB_COPY(Bb__TakeJob, job) is a Bb__TakeJob * (or NULL). */
#define BB_PB_COPY(type, msg) ((type *)bb_pb_copy(&(msg)->base))

#endif
