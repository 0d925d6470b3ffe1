/*
 * ipm/Subscriber.hpp — DUNE-DAQ's dunedaq::ipm::Subscriber over libipm.
 *
 *   auto subscriber = dunedaq::ipm::make_ipm_subscriber("ZmqSubscriber");  //
 * "ShmSubscriber" subscriber->connect_for_receives({{"connection_strings",
 * {"tcp://a:5000", "tcp://b:5000"}}}); subscriber->subscribe("topic"); auto response =
 * subscriber->receive(dunedaq::ipm::Receiver::s_block);
 *
 * The class and its factories live in ipm/Receiver.hpp, because
 * makeIPMReceiver() of a subscriber type returns a Subscriber too.
 */
#ifndef IPM_INCLUDE_IPM_SUBSCRIBER_HPP_
#define IPM_INCLUDE_IPM_SUBSCRIBER_HPP_

#include "ipm/Receiver.hpp"

#endif // IPM_INCLUDE_IPM_SUBSCRIBER_HPP_
