/// @file unipar.hpp
/// @brief Everything unipar offers: one Parallelizer API over serial, fork and MPI backends.
#pragma once

#include "unipar/client_server.hpp"
#include "unipar/codec.hpp"
#include "unipar/error.hpp"
#include "unipar/factory.hpp"
#include "unipar/fork.hpp"
#include "unipar/map_options.hpp"
#include "unipar/parallelizer.hpp"
#include "unipar/random.hpp"
#include "unipar/serial.hpp"
#include "unipar/serialization.hpp"
#include "unipar/shared.hpp"
#include "unipar/tasks.hpp"
