/*
 * ipm/detail/dune.hpp — what ipm/Sender.hpp and ipm/Receiver.hpp (the
 * DUNE-DAQ API over libipm) share: the exception base, the translation of a
 * DUNE connection object (nlohmann::json) into ipm_params, and RAII holders
 * of the C objects. Include Sender.hpp, Receiver.hpp or Subscriber.hpp, not
 * this file.
 */
#ifndef IPM_DETAIL_DUNE_HPP
#define IPM_DETAIL_DUNE_HPP

#include "ipm/detail/cxx.hpp"
#include "ipm/ipm.h"

#include <nlohmann/json.hpp>

#include <chrono>
#include <exception>
#include <memory>
#include <string>
#include <utility>

namespace dunedaq::ipm
{

/* Base of every exception the DUNE API throws here (DUNE's derive from
 * ers::Issue, which derives from std::exception; catch std::exception, or
 * this class, where DUNE code catches ers::Issue). status() is the ipm_status
 * behind it (for the checks the API makes itself: IPM_ESTATE, IPM_EINVAL for
 * NullPointerPassedToSend, IPM_ESIZE for UnexpectedNumberOfBytes). */
class Issue : public std::exception
{
  public:
    Issue(std::string message, ipm_status status) noexcept
        : message_(std::move(message)), status_(status)
    {
    }
    const char *what() const noexcept override
    {
        return message_.c_str();
    }
    ipm_status status() const noexcept
    {
        return status_;
    }

  private:
    std::string message_;
    ipm_status status_;
};

/* Any other failure of ipm: plugin not found, bad connection info, bind or
 * connect failed, ... what() is ipm_last_error()'s sentence. */
class OperationFailed : public Issue
{
  public:
    using Issue::Issue;
};

namespace dune_detail
{

/* "context: ipm's message" */
inline std::string with_detail(const std::string &context, ipm_status s)
{
    return context + ": " + ipm_cxx_detail::error_text(s);
}

[[noreturn]] inline void fail(const std::string &context, ipm_status s)
{
    throw OperationFailed(with_detail(context, s), s);
}

struct ParamsFree {
    void operator()(ipm_params *p) const noexcept
    {
        ipm_params_free(p);
    }
};
using ParamsPtr = std::unique_ptr<ipm_params, ParamsFree>;

/* One JSON value as ipm text: strings as they are, numbers and bools as
 * JSON writes them. */
inline std::string scalar_text(const std::string &key, const nlohmann::json &v)
{
    if (v.is_string()) return v.get<std::string>();
    if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
    if (v.is_number()) return v.dump();
    if (v.is_null()) return "";
    throw OperationFailed("connection info key '" + key + "' holds " + v.dump() +
                              "; ipm takes a string, number, bool or an array of them",
                          IPM_ECONFIG);
}

/* The ipm_params of a DUNE connection object: every key is passed on (so ipm
 * names a mistyped key), an array becomes ipm's comma list (DUNE's
 * connection_strings = [...]), and, if default_endpoint, a missing endpoint
 * gets DUNE's default, inproc://default (DUNE's senders, receivers and
 * publishers have it; its subscribers refuse to connect without one, and so
 * do ipm's). */
inline ParamsPtr params_from_json(const nlohmann::json &info, bool default_endpoint)
{
    ipm_params *raw = nullptr;
    ipm_status s = ipm_params_new(&raw);
    if (s != IPM_OK) fail("connection info", s);
    ParamsPtr p(raw);
    if (!info.is_null() && !info.is_object())
        throw OperationFailed("connection info must be a JSON object, not " + info.dump(),
                              IPM_ECONFIG);
    if (info.is_object()) {
        for (auto it = info.begin(); it != info.end(); ++it) {
            std::string text;
            if (it.value().is_array()) {
                for (const auto &elem : it.value()) {
                    std::string one = scalar_text(it.key(), elem);
                    if (one.find(',') != std::string::npos)
                        throw OperationFailed("connection info key '" + it.key() +
                                                  "': element '" + one +
                                                  "' holds a comma, which ipm's lists "
                                                  "use as separator",
                                              IPM_ECONFIG);
                    text += (text.empty() ? "" : ",") + one;
                }
            } else {
                text = scalar_text(it.key(), it.value());
            }
            s = ipm_params_set(p.get(), it.key().c_str(), text.c_str());
            if (s != IPM_OK) fail("connection info key '" + it.key() + "'", s);
        }
    }
    if (default_endpoint && !ipm_params_get(p.get(), "connection_string") &&
        !ipm_params_get(p.get(), "connection_strings")) {
        s = ipm_params_set(p.get(), "connection_string", "inproc://default");
        if (s != IPM_OK) fail("connection info", s);
    }
    return p;
}

} // namespace dune_detail
} // namespace dunedaq::ipm

#endif /* IPM_DETAIL_DUNE_HPP */
