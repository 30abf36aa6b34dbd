/**
 * The Perfetto trace messages the Perfetto writer uses, as protobufjs parses them: the fields of
 * protos/perfetto/trace/{trace,trace_packet}.proto and track_event/{track_event,track_descriptor,
 * process_descriptor,thread_descriptor,counter_descriptor,debug_annotation}.proto that Heddle
 * writes, with Perfetto's own field numbers (fields left out are never written).
 */
export const PERFETTO_PROTO = `
syntax = "proto2";
package perfetto.protos;

message Trace {
  repeated TracePacket packet = 1;
}

message TracePacket {
  optional uint64 timestamp = 8;
  oneof data {
    TrackEvent track_event = 11;
    TrackDescriptor track_descriptor = 60;
  }
  oneof optional_trusted_packet_sequence_id {
    uint32 trusted_packet_sequence_id = 10;
  }
  enum SequenceFlags {
    SEQ_UNSPECIFIED = 0;
    SEQ_INCREMENTAL_STATE_CLEARED = 1;
    SEQ_NEEDS_INCREMENTAL_STATE = 2;
  }
  optional uint32 sequence_flags = 13;
}

message TrackDescriptor {
  optional uint64 uuid = 1;
  optional uint64 parent_uuid = 5;
  optional string name = 2;
  optional ProcessDescriptor process = 3;
  optional ThreadDescriptor thread = 4;
  optional CounterDescriptor counter = 8;
}

message ProcessDescriptor {
  optional int32 pid = 1;
  optional string process_name = 6;
}

message ThreadDescriptor {
  optional int32 pid = 1;
  optional int32 tid = 2;
  optional string thread_name = 5;
}

message CounterDescriptor {
  enum Unit {
    UNIT_UNSPECIFIED = 0;
    UNIT_TIME_NS = 1;
    UNIT_COUNT = 2;
    UNIT_SIZE_BYTES = 3;
  }
  optional Unit unit = 3;
}

message TrackEvent {
  repeated string categories = 22;
  oneof name_field {
    string name = 23;
  }
  enum Type {
    TYPE_UNSPECIFIED = 0;
    TYPE_SLICE_BEGIN = 1;
    TYPE_SLICE_END = 2;
    TYPE_INSTANT = 3;
    TYPE_COUNTER = 4;
  }
  optional Type type = 9;
  optional uint64 track_uuid = 11;
  oneof counter_value_field {
    int64 counter_value = 30;
    double double_counter_value = 44;
  }
  repeated DebugAnnotation debug_annotations = 4;
}

message DebugAnnotation {
  message NestedValue {
    enum NestedType {
      UNSPECIFIED = 0;
      DICT = 1;
      ARRAY = 2;
    }
    optional NestedType nested_type = 1;
    repeated NestedValue array_values = 4;
    optional int64 int_value = 5;
    optional double double_value = 6;
    optional bool bool_value = 7;
    optional string string_value = 8;
  }
  oneof name_field {
    string name = 10;
  }
  oneof value {
    bool bool_value = 2;
    int64 int_value = 4;
    double double_value = 5;
    string string_value = 6;
    NestedValue nested_value = 8;
  }
}
`;
