// Little-endian byte (de)serialisation helpers shared by the model blob and
// the trace format.  Readers never trust their input: every Get* checks
// bounds and reports failure instead of reading past the end.
#ifndef SCULPT_CORE_SERIAL_H_
#define SCULPT_CORE_SERIAL_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sculpt {

inline void PutU8(std::string* o, uint8_t v) {
  o->push_back(static_cast<char>(v));
}
inline void PutU32(std::string* o, uint32_t v) {
  for (int i = 0; i < 4; i++) o->push_back(static_cast<char>(v >> (8 * i)));
}
inline void PutU64(std::string* o, uint64_t v) {
  for (int i = 0; i < 8; i++) o->push_back(static_cast<char>(v >> (8 * i)));
}
inline void PutF32(std::string* o, float f) {
  uint32_t v;
  std::memcpy(&v, &f, 4);
  PutU32(o, v);
}
inline void PutF64(std::string* o, double f) {
  uint64_t v;
  std::memcpy(&v, &f, 8);
  PutU64(o, v);
}
inline void PutVarint(std::string* o, uint64_t v) {
  while (v >= 0x80) {
    o->push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  o->push_back(static_cast<char>(v));
}
inline void PutBytes(std::string* o, const void* p, size_t n) {
  o->append(static_cast<const char*>(p), n);
}

inline bool GetU8(std::string_view* in, uint8_t* v) {
  if (in->size() < 1) return false;
  *v = static_cast<uint8_t>((*in)[0]);
  in->remove_prefix(1);
  return true;
}
inline bool GetU32(std::string_view* in, uint32_t* v) {
  if (in->size() < 4) return false;
  uint32_t r = 0;
  for (int i = 0; i < 4; i++)
    r |= uint32_t{static_cast<uint8_t>((*in)[i])} << (8 * i);
  *v = r;
  in->remove_prefix(4);
  return true;
}
inline bool GetU64(std::string_view* in, uint64_t* v) {
  if (in->size() < 8) return false;
  uint64_t r = 0;
  for (int i = 0; i < 8; i++)
    r |= uint64_t{static_cast<uint8_t>((*in)[i])} << (8 * i);
  *v = r;
  in->remove_prefix(8);
  return true;
}
inline bool GetF32(std::string_view* in, float* f) {
  uint32_t v;
  if (!GetU32(in, &v)) return false;
  std::memcpy(f, &v, 4);
  return true;
}
inline bool GetF64(std::string_view* in, double* f) {
  uint64_t v;
  if (!GetU64(in, &v)) return false;
  std::memcpy(f, &v, 8);
  return true;
}
inline bool GetVarint(std::string_view* in, uint64_t* v) {
  uint64_t r = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (in->empty()) return false;
    uint8_t byte = static_cast<uint8_t>((*in)[0]);
    in->remove_prefix(1);
    if (shift == 63 && byte > 1) return false;  // overflow
    r |= uint64_t{byte & 0x7fu} << shift;
    if (!(byte & 0x80)) {
      *v = r;
      return true;
    }
  }
  return false;
}
inline bool GetBytes(std::string_view* in, void* p, size_t n) {
  if (in->size() < n) return false;
  std::memcpy(p, in->data(), n);
  in->remove_prefix(n);
  return true;
}

uint32_t Crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace sculpt

#endif  // SCULPT_CORE_SERIAL_H_
