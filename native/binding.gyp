{
  "targets": [
    {
      "target_name": "tandem_native",
      "sources": [
        "src/addon.cc", "src/driver.cc", "src/pack.cc", "src/pool.cc",
        "src/isa_scalar.cc", "src/isa_avx2.cc", "src/isa_avx512.cc", "src/isa_avx512vnni.cc",
        "src/ops.cc", "src/ops_avx512.cc"
      ],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc!": ["-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-O3", "-ffp-contract=off", "-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
      "xcode_settings": {
        "CLANG_CXX_LANGUAGE_STANDARD": "c++20",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-ffp-contract=off"]
      }
    }
  ]
}
