/**
 * Perfetto's trace messages for decoding traces in tests, transcribed from Perfetto's own
 * protos (protos/perfetto/trace/trace.proto, trace_packet.proto and track_event/*.proto) apart
 * from the writer's schema, so that a wrong field number in either shows up as a failed decode.
 * It holds more fields than the writer writes (interned names, clock ids, sort indexes), which a
 * trace from Heddle must leave unset.
 */

import protobuf from 'protobufjs';

const PERFETTO_TRACE_PROTO = `
syntax = "proto2";
package perfetto.protos;

message Trace {
  repeated TracePacket packet = 1;
}

message TracePacket {
  optional uint64 timestamp = 8;
  optional uint32 timestamp_clock_id = 58;
  oneof data {
    TrackEvent track_event = 11;
    TrackDescriptor track_descriptor = 60;
    ProcessDescriptor process_descriptor = 43;
    ThreadDescriptor thread_descriptor = 44;
  }
  oneof optional_trusted_uid {
    int32 trusted_uid = 3;
  }
  oneof optional_trusted_packet_sequence_id {
    uint32 trusted_packet_sequence_id = 10;
  }
  optional uint32 sequence_flags = 13;
  optional bool incremental_state_cleared = 41;
  optional uint32 previous_packet_dropped = 42;
  optional bool first_packet_on_sequence = 87;
}

message TrackDescriptor {
  optional uint64 uuid = 1;
  optional string name = 2;
  optional ProcessDescriptor process = 3;
  optional ThreadDescriptor thread = 4;
  optional uint64 parent_uuid = 5;
  optional CounterDescriptor counter = 8;
  optional bool disallow_merging_with_system_tracks = 9;
}

message ProcessDescriptor {
  optional int32 pid = 1;
  repeated string cmdline = 2;
  optional int32 legacy_sort_index = 3;
  optional int32 process_priority = 5;
  optional string process_name = 6;
  optional int64 start_timestamp_ns = 7;
}

message ThreadDescriptor {
  optional int32 pid = 1;
  optional int32 tid = 2;
  optional int32 legacy_sort_index = 3;
  optional string thread_name = 5;
  optional int64 reference_timestamp_us = 6;
  optional int64 reference_thread_time_us = 7;
}

message CounterDescriptor {
  enum BuiltinCounterType {
    COUNTER_UNSPECIFIED = 0;
    COUNTER_THREAD_TIME_NS = 1;
    COUNTER_THREAD_INSTRUCTION_COUNT = 2;
  }
  enum Unit {
    UNIT_UNSPECIFIED = 0;
    UNIT_TIME_NS = 1;
    UNIT_COUNT = 2;
    UNIT_SIZE_BYTES = 3;
  }
  optional BuiltinCounterType type = 1;
  repeated string categories = 2;
  optional Unit unit = 3;
  optional int64 unit_multiplier = 4;
  optional bool is_incremental = 5;
}

message TrackEvent {
  enum Type {
    TYPE_UNSPECIFIED = 0;
    TYPE_SLICE_BEGIN = 1;
    TYPE_SLICE_END = 2;
    TYPE_INSTANT = 3;
    TYPE_COUNTER = 4;
  }
  repeated uint64 category_iids = 3;
  repeated DebugAnnotation debug_annotations = 4;
  optional Type type = 9;
  oneof name_field {
    uint64 name_iid = 10;
    string name = 23;
  }
  optional uint64 track_uuid = 11;
  repeated int64 extra_counter_values = 12;
  repeated string categories = 22;
  oneof counter_value_field {
    int64 counter_value = 30;
    double double_counter_value = 44;
  }
  repeated uint64 extra_counter_track_uuids = 31;
}

message DebugAnnotation {
  message NestedValue {
    enum NestedType {
      UNSPECIFIED = 0;
      DICT = 1;
      ARRAY = 2;
    }
    optional NestedType nested_type = 1;
    repeated string dict_keys = 2;
    repeated NestedValue dict_values = 3;
    repeated NestedValue array_values = 4;
    optional int64 int_value = 5;
    optional double double_value = 6;
    optional bool bool_value = 7;
    optional string string_value = 8;
  }
  oneof name_field {
    uint64 name_iid = 1;
    string name = 10;
  }
  oneof value {
    bool bool_value = 2;
    uint64 uint_value = 3;
    int64 int_value = 4;
    double double_value = 5;
    string string_value = 6;
    uint64 pointer_value = 7;
    NestedValue nested_value = 8;
    string legacy_json_value = 9;
  }
}
`;

const TraceType = protobuf.parse(PERFETTO_TRACE_PROTO).root.lookupType('perfetto.protos.Trace');

export interface DecodedAnnotation {
  name?: string;
  nameIid?: number;
  stringValue?: string;
  intValue?: number;
  doubleValue?: number;
  boolValue?: boolean;
  nestedValue?: { nestedType?: string; arrayValues?: { stringValue?: string; intValue?: number }[] };
}

export interface DecodedTrackEvent {
  type?: string;
  trackUuid?: number;
  name?: string;
  nameIid?: number;
  categories?: string[];
  categoryIids?: number[];
  counterValue?: number;
  doubleCounterValue?: number;
  debugAnnotations?: DecodedAnnotation[];
}

export interface DecodedTrackDescriptor {
  uuid?: number;
  parentUuid?: number;
  name?: string;
  process?: { pid?: number; processName?: string };
  thread?: { pid?: number; tid?: number; threadName?: string };
  counter?: { unit?: string; type?: string };
}

export interface DecodedPacket {
  timestamp?: number;
  timestampClockId?: number;
  trustedPacketSequenceId?: number;
  sequenceFlags?: number;
  trackEvent?: DecodedTrackEvent;
  trackDescriptor?: DecodedTrackDescriptor;
  processDescriptor?: unknown;
  threadDescriptor?: unknown;
}

/** Decodes a Perfetto trace; 64-bit numbers become JS numbers and enums their names. */
export function decodePerfettoTrace(bytes: Uint8Array): DecodedPacket[] {
  const message = TraceType.decode(bytes);
  const plain = TraceType.toObject(message, { longs: Number, enums: String, arrays: true });
  return plain.packet as DecodedPacket[];
}
