/* check_message.c — unit tests for broker/queue/message.c's allocation:
 * a body received in frames (message_receiving + message_fill) ends up
 * byte for byte what was sent, whatever the frame sizes, for small bodies
 * (written in place) and big ones (grown as they arrive); a persistent
 * message's store id slot is there and zero once its body is complete. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "broker/queue/message.h"

static const struct bytes EX = {(const uint8_t *)"ex", 2}, RK = {(const uint8_t *)"rk", 2},
			  PROPS = {(const uint8_t *)"\x10\x00\x02", 3};

/* Receives `size` octets in frames of `step`, checks the result. */
static void receive(uint64_t size, size_t step, unsigned flags)
{
	uint8_t *src = malloc(size ? size : 1);
	for (uint64_t i = 0; i < size; i++)
		src[i] = (uint8_t)(i * 7 + i / 251);
	struct message *m = message_receiving(EX, RK, PROPS, size, flags);
	for (uint64_t have = 0; have < size; have += step) {
		size_t n = size - have < step ? (size_t)(size - have) : step;
		m = message_fill(m, have, src + have, n);
	}
	ck_assert_uint_eq(m->body_size, size);
	ck_assert(memcmp(message_body(m), src, size) == 0);
	ck_assert(bytes_eq(message_rkey(m), "rk"));
	ck_assert_uint_eq(message_props(m).len, 3);
	if (flags & MSG_PERSISTENT) {
		ck_assert_uint_eq(message_store_id(m), 0);
		message_set_store_id(m, 0x1122334455667788ull);
		ck_assert_uint_eq(message_store_id(m), 0x1122334455667788ull);
		ck_assert(memcmp(message_body(m), src, size) == 0); /* the slot is past it */
	}
	message_unref(m);
	free(src);
}

START_TEST(small_bodies_in_place)
{
	receive(0, 1, 0);
	receive(16, 5, 0);
	receive(1000, 1000, MSG_PERSISTENT);
	receive(128 * 1024, 4096, MSG_PERSISTENT); /* the largest kept whole */
}
END_TEST

START_TEST(big_bodies_grow)
{
	receive(128 * 1024 + 1, 131064, 0);
	receive(5 * 1024 * 1024 + 3, 131064, MSG_PERSISTENT);
	receive(1024 * 1024, 1, 0);               /* one octet at a time */
	receive(3 * 1024 * 1024, 3 * 1024 * 1024, MSG_PERSISTENT); /* one frame */
}
END_TEST

START_TEST(new_has_all_room)
{
	/* message_new is written at message_body in one go, at any size. */
	uint64_t size = 2 * 1024 * 1024;
	struct message *m = message_new(EX, RK, PROPS, size, MSG_PERSISTENT);
	memset(message_body(m), 0xab, size);
	ck_assert_uint_eq(message_store_id(m), 0);
	ck_assert_uint_eq(message_body(m)[size - 1], 0xab);
	message_unref(m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("message");
	TCase *t = tcase_create("core");
	tcase_add_test(t, small_bodies_in_place);
	tcase_add_test(t, big_bodies_grow);
	tcase_add_test(t, new_has_all_room);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
