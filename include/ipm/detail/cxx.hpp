/*
 * ipm/detail/cxx.hpp — helpers shared by the two C++ bindings, ipm.hpp (the
 * RAII wrapper) and Sender.hpp / Receiver.hpp (the DUNE-DAQ API). Not part of
 * the public API.
 *
 * The namespace is ipm_cxx_detail, not ipm::detail: the DUNE headers must not
 * declare a global namespace `ipm`, or DUNE code with `using namespace
 * dunedaq;` would find `ipm::` ambiguous.
 */
#ifndef IPM_DETAIL_CXX_HPP
#define IPM_DETAIL_CXX_HPP

#include "ipm/ipm.h"

#include <chrono>
#include <climits>
#include <cmath>
#include <string>

namespace ipm_cxx_detail
{

/* The timeout_ms argument of the C API for a chrono duration: zero or
 * negative tries once; anything of 2^31 - 1 ms or more (milliseconds::max(),
 * DUNE's s_block) waits forever; the rest is rounded up to whole milliseconds
 * so that a timeout never comes early. Compared as double because durations
 * such as hours::max() overflow any integer conversion to milliseconds. */
template <class Rep, class Period>
inline int timeout_ms(std::chrono::duration<Rep, Period> d) noexcept
{
    if (d <= d.zero()) return IPM_NO_BLOCK;
    const double ms = std::chrono::duration<double, std::milli>(d).count();
    if (!(ms < static_cast<double>(INT_MAX))) return IPM_BLOCK;
    return static_cast<int>(std::ceil(ms));
}

/* The calling thread's ipm_last_error(), or the static text of s when the
 * library left none. */
inline std::string error_text(ipm_status s)
{
    const char *detail = ipm_last_error();
    return (detail && *detail) ? std::string(detail) : std::string(ipm_strerror(s));
}

} // namespace ipm_cxx_detail

#endif /* IPM_DETAIL_CXX_HPP */
