/// @file transport.hpp
/// @brief detail::Transport, the byte layer as the upper layers see it (defined in
/// transport_class.hpp, which parallelizer.hpp includes once Parallelizer is complete, so that
/// this header can come first in any order of includes).
#pragma once

#include "unipar/parallelizer.hpp"
