;;; otrace-remote-test.el --- ERT tests of otrace-remote.el over a real sshd -*- lexical-binding: t -*-

;;; Commentary:

;; Run by tests/test_emacs_remote.py, which starts the real torna_trace
;; demo and a real OpenSSH sshd on 127.0.0.1 (tests/support/sshd.py)
;; and gives them here through the environment:
;;   OTRACE_TEST_SSH_HOST       user@127.0.0.1
;;   OTRACE_TEST_SSH_ARGS       -p PORT -i KEY -F CONFIG
;;   OTRACE_TEST_SSH_WRONG_KEY  a key the sshd does not accept
;;   OTRACE_TEST_REMOTE_PID     the demo's pid ("remote": over ssh)
;;   OTRACE_TEST_REMOTE_HTTP    the demo's HTTP port
;;   OTRACE_TEST_REMOTE_XDG     the logins' XDG_RUNTIME_DIR (another demo
;;                              started with it is found over ssh)
;; `otrace-program' is OTRACE_TEST_PYTHON -m otrace_server.cli (PYTHONPATH
;; is the repository).  Skipped when these are not set.

;;; Code:

(require 'ert)
(require 'cl-lib)
(require 'otrace)
(require 'otrace-test)

(defun otrace-remote-test--env (name)
  "Environment variable NAME, or skip the test."
  (or (getenv name) (ert-skip (format "%s is not set: run tests/test_emacs_remote.py" name))))

(defmacro otrace-remote-test--with-ssh (&rest body)
  "Run BODY with `otrace-program' and `otrace-ssh-arguments' set for the test sshd.
`host', `pid' and `http' are bound; the connection is closed afterwards."
  (declare (indent 0))
  `(let* ((host (otrace-remote-test--env "OTRACE_TEST_SSH_HOST"))
          (pid (string-to-number (otrace-remote-test--env "OTRACE_TEST_REMOTE_PID")))
          (http (string-to-number (otrace-remote-test--env "OTRACE_TEST_REMOTE_HTTP")))
          (otrace-program (list (otrace-remote-test--env "OTRACE_TEST_PYTHON") "-m" "otrace_server.cli"))
          (otrace-ssh-arguments (split-string (otrace-remote-test--env "OTRACE_TEST_SSH_ARGS")))
          (otrace-remote-host-history nil))
     (ignore host pid http)
     (unwind-protect (progn ,@body)
       (otrace-disconnect)
       (otrace-test--cleanup-buffers))))

(defun otrace-remote-test--tunnel ()
  "The tunnel process of the current connection."
  (plist-get (otrace--via (otrace--connection)) :process))

(defun otrace-remote-test--refused-p (port)
  "Non-nil when a connection to 127.0.0.1:PORT is refused."
  (condition-case nil
      (progn (delete-process (make-network-process :name "otrace-remote-test-probe" :host "127.0.0.1"
                                                   :service port :noquery t))
             nil)
    (file-error t)))

(ert-deftest otrace-remote-test-attach-console-holds-disconnect ()
  "M-x otrace-attach-remote: host, then the process; console and holds work through
the tunnel; disconnecting ends the tunnel and its ports; reconnecting opens it again."
  (otrace-remote-test--with-ssh
    (let (offered)
      (cl-letf (((symbol-function 'completing-read)     ; what is offered, then the real prompt
                 (let ((real (symbol-function 'completing-read)))
                   (lambda (prompt collection &rest args)
                     (when (string-prefix-p "otrace process" prompt)
                       (setq offered (mapcar #'car collection)))
                     (apply real prompt collection args)))))
        (execute-kbd-macro (kbd (format "M-x otrace-attach-remote RET %s RET %d TAB RET" host pid))))
      (should (cl-some (lambda (c) (and (string-prefix-p (format "%d " pid) c)
                                        (string-match-p "torna_trace\\.py" c)))
                       offered)))
    (should (otrace-connected-p))
    (should (equal otrace-remote-host-history (list host)))
    (should (equal (plist-get (otrace--info otrace--connection) :pid) pid))
    (should (equal (otrace--lighter) (format " otrace[%d@127.0.0.1]" pid)))
    (should (string-match-p (format "\\`otrace %d@127\\.0\\.0\\.1" pid)
                            (jsonrpc-name otrace--connection)))
    (let ((tunnel (otrace-remote-test--tunnel))
          (lsp-port (nth 1 (otrace--address otrace--connection)))
          (console (otrace-console)))
      (should (process-live-p tunnel))
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^globals> \\'")) "the prompt")
      (otrace-console-send-line "pwd")
      (otrace-test--wait (lambda () (otrace-test--buffer-has console "^/osh/globals\nglobals> \\'"))
                         "the output of pwd through the tunnel")
      ;; a held request of the remote demo, listed and resumed with `r'
      (let ((holds (otrace-holds))
            (response (otrace-test--http-get (otrace-test--app-make :http http) "/?number=77")))
        (otrace-test--wait (lambda () (with-current-buffer holds tabulated-list-entries)) "the hold in the view")
        (should (equal (otrace--lighter) (format " otrace[%d@127.0.0.1][1 held]" pid)))
        (with-current-buffer holds
          (goto-char (point-min))
          (should (re-search-forward "GET /\\?number=77 from 127\\.0\\.0\\.1 +hold_check" nil t))
          (goto-char (point-min))
          (forward-line (if tabulated-list-use-header-line 0 1))
          (execute-kbd-macro (kbd "r")))
        (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                           "the HTTP response")
        (kill-buffer response))
      (execute-kbd-macro (kbd "M-x otrace-disconnect RET"))
      (should-not (otrace-connected-p))
      (otrace-test--wait (lambda () (not (process-live-p tunnel))) "the tunnel to end")
      (should (equal (process-exit-status tunnel) 0))          ; SIGTERM: closed cleanly
      (should (otrace-remote-test--refused-p lsp-port))
      (should-not (memq tunnel otrace-remote--tunnels))
      (execute-kbd-macro (kbd "M-x otrace-reconnect RET"))     ; a new tunnel to the same process
      (should (otrace-connected-p))
      (should (equal (plist-get (otrace--info otrace--connection) :pid) pid))
      (should-not (eq (otrace-remote-test--tunnel) tunnel))
      (should (eq (otrace-console) console)))))

(ert-deftest otrace-remote-test-tunnel-ending-by-itself-is-told ()
  "When the remote process ends, the tunnel ends (status 1), the connection closes
and the message says why."
  (otrace-remote-test--with-ssh
    (let* ((otrace-test--runtime-dir (otrace-remote-test--env "OTRACE_TEST_REMOTE_XDG"))
           (other (otrace-test--start "demos/torna_trace.py"))   ; found over ssh too
           (proc (otrace-test--app-proc other))
           (told nil))
      (unwind-protect
          (cl-letf* ((real (symbol-function 'otrace--message))
                     ((symbol-function 'otrace--message)
                      (lambda (format &rest args)
                        (push (apply #'format format args) told)
                        (apply real format args))))
            (otrace-remote-connect host (process-id proc))
            (let ((tunnel (otrace-remote-test--tunnel)))
              (process-send-eof proc)                            ; the remote process ends
              (otrace-test--wait (lambda () (not (process-live-p tunnel))) "the tunnel to end" 30)
              (otrace-test--wait (lambda () (not (otrace-connected-p))) "the connection to close")
              (should (equal (process-exit-status tunnel) 1))
              ;; the tunnel's sentinel says why: it may run just after the process is gone
              (should (otrace-test--wait
                       (lambda ()
                         (cl-find-if
                          (lambda (m)
                            (string-match-p
                             (format (concat "\\`the tunnel to %d@127\\.0\\.0\\.1 ended (status 1): "
                                             "the otrace process %d on %s ended")
                                     (process-id proc) (process-id proc) (regexp-quote host))
                             m))
                          told))
                       "the message saying why the tunnel ended" 10))))
        (when (process-live-p proc) (delete-process proc))
        (kill-buffer (process-buffer proc))))))

(ert-deftest otrace-remote-test-errors-are-one-line ()
  "A wrong key, an unknown host, an unknown pid: the command's one-line error, no tunnel left."
  (otrace-remote-test--with-ssh
    (let ((otrace-ssh-arguments (copy-sequence otrace-ssh-arguments)))   ; the wrong key instead
      (setf (nth (1+ (cl-position "-i" otrace-ssh-arguments :test #'equal)) otrace-ssh-arguments)
            (otrace-remote-test--env "OTRACE_TEST_SSH_WRONG_KEY"))
      (dolist (attempt (list (lambda () (otrace-remote-processes host))
                             (lambda () (otrace-remote-connect host pid))))
        (let ((err (should-error (funcall attempt) :type 'user-error)))
          (should (string-match-p (format "\\`otrace: cannot log in to %s: [^\n]*\\'" (regexp-quote host))
                                  (cadr err))))))
    (let ((err (should-error (otrace-remote-processes "nosuchhost.invalid") :type 'user-error)))
      (should (string-match-p "\\`otrace: \\(unknown host\\|cannot reach\\) nosuchhost\\.invalid[^\n]*\\'"
                              (cadr err))))
    (let ((err (should-error (otrace-remote-connect host 4194304) :type 'user-error)))
      (should (string-match-p (format "\\`otrace: no otrace process 4194304 on %s [^\n]*\\'" (regexp-quote host))
                              (cadr err))))
    (let* ((otrace-ssh-arguments '("--no-such-option"))                  ; a usage error: status 2
           (err (should-error (otrace-remote-connect host pid) :type 'user-error)))
      (should (string-match-p "\\`otrace: otrace attach: error: [^\n]*--no-such-option[^\n]*\\'" (cadr err))))
    (let ((otrace-program (list (expand-file-name "no-such-otrace" temporary-file-directory))))
      (dolist (attempt (list (lambda () (otrace-remote-processes host))
                             (lambda () (otrace-remote-connect host pid))))
        (let ((err (should-error (funcall attempt) :type 'user-error)))
          (should (string-match-p "\\`otrace: [^\n]*no-such-otrace[^\n]*No such file[^\n]*\\'"
                                  (cadr err))))))
    (should-not (otrace-connected-p))
    (should-not otrace-remote--tunnels)))

;;;; A fleet of the host

(defun otrace-remote-test--fleet-workers (fleet)
  "The pids of the running workers of FLEET (an id) of the \"remote\" host, read from its files."
  (let ((otrace-discovery-directory (expand-file-name "otrace" (otrace-remote-test--env "OTRACE_TEST_REMOTE_XDG"))))
    (sort (mapcar (lambda (w) (plist-get w :pid)) (otrace-fleet-workers fleet)) #'<)))

(defun otrace-remote-test--tunnels ()
  "The tunnel processes of the attached workers."
  (mapcar (lambda (w) (plist-get (otrace--via w) :process)) otrace--workers))

(ert-deftest otrace-remote-test-fleet-every-worker-through-its-tunnel ()
  "The fleet's choice of M-x otrace-attach-remote: every worker through a tunnel of its
own, holds of the fleet in one list; a worker started later joins through a new tunnel,
the dead one's leaves; disconnecting ends every tunnel."
  (otrace-remote-test--with-ssh
    (let* ((otrace-test--runtime-dir (otrace-remote-test--env "OTRACE_TEST_REMOTE_XDG"))
           (otrace-fleet-remote-poll-interval 1)
           (app (let ((otrace-test--workers 2)) (otrace-test--start "demos/torna_fleet.py" "--workers" "2")))
           (proc (otrace-test--app-proc app))
           (fleet (format "ppid-%d" (process-id proc))))
      (unwind-protect
          (let ((pids (otrace-test--wait (lambda () (let ((pids (otrace-remote-test--fleet-workers fleet)))
                                                      (and (= (length pids) 2) pids)))
                                         "the 2 workers' discovery files" 30)))
            (execute-kbd-macro (kbd (format "M-x otrace-attach-remote RET %s RET torna_fleet TAB RET" host)))
            (should (equal (sort (mapcar #'otrace--pid otrace--workers) #'<) pids))
            (should (string-match-p "\\[torna_fleet\\.py on 127\\.0\\.0\\.1: 2 workers\\]" (otrace--lighter)))
            (let ((tunnels (otrace-remote-test--tunnels)))
              (should (= (length (delete-dups (copy-sequence tunnels))) 2))
              (should (cl-every #'process-live-p tunnels))
              ;; a held request of either worker, in the list with its worker; R y resumes it
              (let ((response (otrace-test--http-get app "/?number=77")))
                (otrace-test--wait (lambda () otrace--holds) "the hold")
                (should (memql (plist-get (car otrace--holds) :worker) pids))
                (cl-letf (((symbol-function 'read-char-choice) (lambda (_prompt _chars) ?y)))
                  (with-current-buffer (otrace-holds)
                    (switch-to-buffer (current-buffer))
                    (execute-kbd-macro (kbd "R"))))
                (otrace-test--wait (lambda () (otrace-test--buffer-has response "The reciprocal of 77\\.0 is"))
                                   "the HTTP response")
                (kill-buffer response))
              ;; a worker killed: the fleet's parent starts another, found over ssh, attached
              (let* ((dead (car pids))
                     (dead-tunnel (plist-get (otrace--via (cl-find dead otrace--workers :key #'otrace--pid)) :process)))
                (signal-process dead 'SIGKILL)
                (let ((now (otrace-test--wait (lambda () (let ((now (otrace-remote-test--fleet-workers fleet)))
                                                           (and (= (length now) 2) (not (memql dead now)) now)))
                                              "a new worker" 30)))
                  (otrace-test--wait (lambda () (equal (sort (mapcar #'otrace--pid otrace--workers) #'<) now))
                                     "the new worker attached, the dead one dropped" 30)
                  (should (otrace-connected-p))
                  (should (string-match-p ": 2 workers\\]" (otrace--lighter)))
                  (otrace-test--wait (lambda () (not (process-live-p dead-tunnel))) "the dead worker's tunnel to end" 20)
                  (should (cl-every #'process-live-p (otrace-remote-test--tunnels)))
                  (setq tunnels (append tunnels (otrace-remote-test--tunnels)))))
              (execute-kbd-macro (kbd "M-x otrace-disconnect RET"))
              (should-not (otrace-connected-p))
              (otrace-test--wait (lambda () (cl-notany #'process-live-p tunnels)) "every tunnel to end")
              (should-not otrace-remote--tunnels)))
        (when (process-live-p proc)
          (process-send-eof proc)
          (otrace-test--wait (lambda () (not (process-live-p proc))) "the fleet to end" 20))
        (kill-buffer (process-buffer proc))))))

(provide 'otrace-remote-test)

;;; otrace-remote-test.el ends here
